"""Workflows the GUI and the CLI share: plan and run a quantization, size and judge the options, scan for models.

Qt-free: the GUI turns their progress into signals, the CLI into a progress line.
"""
