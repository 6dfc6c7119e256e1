"""Operations: how a CLMER installation runs its services. `clmer serve` / `stop` / `status`, the
long-running processes and their pid files, the logins, recovery after a stop, and the few Prefect
REST calls they make. What happens to a clip or a drop lives in `clmer.serving`."""
