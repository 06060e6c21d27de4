"""AFTER: the same script on qqreliable. An HTTP url needs no start().

Every call has a deadline; only connection set-up is retried (nothing was
sent); success is retcode == 0; failures are typed; the token is never logged.
A send answered with NapCat's retcode 1200 is checked (message history)
before anything is resent, so the report goes out exactly once.
"""

import sys

from qqreliable import ActionFailed, Bot, Error, NetworkError, SendUnconfirmed

bot = Bot("http://127.0.0.1:3000", access_token="secret", api_timeout=15)


def send_group(group_id: int, text: str) -> int:
    receipt = bot.send_group_msg(group_id=group_id, message=text)
    return receipt.message_id


if __name__ == "__main__":
    try:
        sys.stdout.write(f"{send_group(123456, 'daily report: all systems nominal')}\n")
    except ActionFailed as exc:  # OneBot ran it and said no: do not resend
        sys.exit(f"refused: {exc.retcode} {exc.message}")
    except SendUnconfirmed as exc:  # ambiguous and unverifiable: look before resending
        sys.exit(f"may or may not have been sent (checked, not resent): {exc}")
    except NetworkError as exc:  # exc.sent tells whether it may have gone out
        sys.exit(f"network trouble (may have been sent: {exc.sent}): {exc}")
    except Error as exc:  # rate limited, account offline, ...: nothing was sent
        sys.exit(f"not sent: {exc}")
