# A QChatGPT 2.x config.py, as 2.x users already have it. Only the keys below are read by
# `python -m qqreliable.compat.qchatgpt2`; the LLM keys (openai_config, ...) may stay: they
# are ignored.

# "yirimirai": mirai-api-http; "nakuru": go-cqhttp (OneBot v11)
msg_source_adapter = "yirimirai"

mirai_http_api_config = {
    "adapter": "WebSocketAdapter",   # or "HTTPAdapter"
    "host": "localhost",             # "ws://localhost" and "http://localhost" work too
    "port": 8080,
    "verifyKey": "yirimirai",
    "qq": 1234567890,
}

nakuru_config = {
    "host": "localhost",
    "port": 6700,        # go-cqhttp forward WebSocket
    "http_port": 5700,   # go-cqhttp HTTP API
    "token": "",
}

admin_qq = 0             # an int or a list; notify_admin writes to each

response_rules = {
    "default": {
        "at": True,                   # answer when the bot is @-ed
        "prefix": ["/ai", "!", "！"],
        "regexp": [],
        "random_rate": 0.0,
    },
}

quote_origin = False
at_sender = False
process_message_timeout = 120
user_pool_num = 8
