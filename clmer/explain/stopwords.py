"""Function words hidden from the key-word display (never from the metrics or the raw attributions).

A reader looking for "why negative?" learns nothing from "the" or "的" even when the model leans on
them; the JSON keeps every word's attribution, and the faithfulness checks rank all words. Negations
and intensity words ("not", "never", "不", "没") carry sentiment and are not on the lists.
"""

from __future__ import annotations

ENGLISH = frozenset("""
a an the and or but if then so as of to in on at by for from with about into over under than
i me my mine we us our ours you your yours he him his she her hers it its they them their theirs
this that these those there here what which who whom whose when where how
is am are was were be been being do does did done have has had having will would shall should
can could may might must just also too very really quite s t ll d re ve m
""".split())

CHINESE = frozenset("""
的 了 是 在 和 与 及 也 都 就 还 又 而 且 着 过 吧 呢 啊 吗 嘛 呀 哦 么 之 其 这 那 这个 那个 这里 那里
我 你 他 她 它 我们 你们 他们 她们 它们 自己 一个 一些 有 个 把 被 给 让 对 从 向 到 于 上 下 里
""".split())


def is_stop_word(word: str) -> bool:
    w = word.strip().lower()
    return w in ENGLISH or w in CHINESE
