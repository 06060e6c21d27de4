"""qq-botpy pointed at FakeOfficial (run with the botpy venv): argv[1] = port."""
import sys
import aiohttp
import botpy
from botpy import http as botpy_http
from botpy.message import C2CMessage

port = int(sys.argv[1])
app_id, secret = sys.argv[2], sys.argv[3]
fake = f"127.0.0.1:{port}"
# botpy has no configurable endpoints: point its REST routes at the fake ...
botpy_http.Route.DOMAIN = fake
botpy_http.Route.SCHEME = "http"
# ... and rewrite the hard-coded token URL (https://bots.qq.com/...) inside aiohttp.
_orig = aiohttp.ClientSession._request
async def _redirect(self, method, url, *args, **kwargs):
    url = str(url).replace("https://bots.qq.com", f"http://{fake}")
    return await _orig(self, method, url, *args, **kwargs)
aiohttp.ClientSession._request = _redirect

class Client(botpy.Client):
    async def on_ready(self):
        print("BOTPY READY", self.robot.name, flush=True)

    async def on_c2c_message_create(self, message: C2CMessage):
        print("BOTPY GOT", repr(message.content), message.author.user_openid, flush=True)
        result = await message._api.post_c2c_message(
            openid=message.author.user_openid, msg_type=0, msg_id=message.id, content=f"echo: {message.content}")
        print("BOTPY REPLIED", result, flush=True)

intents = botpy.Intents(public_messages=True)
Client(intents=intents, timeout=5).run(appid=app_id, secret=secret)
