"""A QChatGPT 2.x reply plugin, unmodified: it runs on QChatGPT 2.6 and on
`python -m qqreliable.compat.qchatgpt2` alike."""
# ruff: noqa: F403, F405  (the 2.x idiom: from pkg.plugin.models import *)

from pkg.plugin.models import *
from pkg.plugin.host import EventContext, PluginHost

from mirai import At, Plain


@register(name="Hello", description="answers hello and ping", version="0.1", author="you")
class HelloPlugin(Plugin):
    def __init__(self, plugin_host: PluginHost):
        self.host = plugin_host

    @on(PersonNormalMessageReceived)
    @on(GroupNormalMessageReceived)
    def normal_message(self, event: EventContext, **kwargs):
        text = kwargs["text_message"]
        if text == "hello":
            reply = [Plain("Hello, ")]
            if kwargs["launcher_type"] == "group":
                reply.append(At(kwargs["sender_id"]))
            event.add_return("reply", reply)
            event.prevent_default()
        elif text == "ping":
            event.add_return("reply", ["pong"])
            event.prevent_default()
            event.prevent_postorder()
