"""Compatibility layers for code written against other bot frameworks.

:mod:`.qchatgpt2` runs QChatGPT 2.x configs and plugins on a qqreliable bot;
:mod:`.mirai` holds look-alikes of the YiriMirai models those plugins import.
Clean-room: names and behaviour are mirrored, no code is taken from those projects.
"""
