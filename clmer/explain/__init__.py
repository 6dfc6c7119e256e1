"""Why a clip got its label: modality attributions, per-clip explanations, the reasoning-text LM and its
rewards, plots, face blurring and the HTML report.

May import data, features and model.
"""
