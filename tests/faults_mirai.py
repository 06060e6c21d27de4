"""The fault matrix for MiraiBot (mirai-api-http v2): the catalog's faults a MAH
client can meet, and the tests that show qqreliable survives them.

Same shape as :mod:`tests.faults` (whose ``CATALOG`` it uses): each id maps to
scenarios (``file::function`` and what it shows), to the reason it cannot
apply to a mirai-api-http client (:data:`MIRAI_NOT_APPLICABLE`), or, where
MiraiBot does not handle it yet, to what is missing (:data:`MIRAI_OPEN`).
``tests/test_mirai_fault_map.py`` checks that every id is accounted for and
every named test exists.
"""

from __future__ import annotations

from typing import Dict, List

from .faults import Scenario

_OFFICIAL = "the official QQ Bot API, not mirai-api-http"
_NO_HEARTBEAT = (
    "MAH sends no heartbeat or lifecycle events: a silent event stream cannot be told from quiet chats; "
    "dead links are found by WebSocket pings (CONN-05)"
)

#: id -> why it cannot apply to a mirai-api-http client
MIRAI_NOT_APPLICABLE: Dict[str, str] = {
    "CONN-07": _NO_HEARTBEAT,
    "LIVE-04": _NO_HEARTBEAT,
    "LIVE-02": "MAH has no liveness probe of its own to malform; qqreliable pings at the WebSocket level",
    "CONN-08": "MiraiBot does not accept connections (MAH's reverse-ws adapter is not used)",
    "CONN-09": _OFFICIAL,
    "RECV-04": "MiraiBot does not take MAH's webhook adapter",
    "SEND-10": "MAH has no separate forward send: a Forward element is one sendGroupMessage",
    "MEDIA-02": "MAH has no get_image: only the element's URL exists (MEDIA-01)",
    "MEDIA-06": "NapCat/LLOneBot rich-media upload failure; MAH answers code 500 (SEND-01)",
    "MEDIA-07": "go-cqhttp/NapCat ffmpeg voice conversion; MAH takes amr/silk as given",
    "MEDIA-08": _OFFICIAL,
    "AUTH-02": "reverse WebSocket identity headers: not used with MAH",
    "AUTH-03": _OFFICIAL,
    "AUTH-04": _OFFICIAL,
    "RATE-03": _OFFICIAL,
    "RATE-04": _OFFICIAL,
}

#: id -> what MiraiBot does not do yet
MIRAI_OPEN: Dict[str, str] = {
    "CONN-10": "the HTTP adapter's pooled connections reset on reuse: handled by the shared HTTP transport "
               "(connect-only retries) but not tested against MAH",
    "RATE-02": "pacing is the shared send pipeline's (Pacing); not tested with MiraiBot",
    "RECV-03": "the handler pool is the shared runtime's Dispatcher; not tested with MiraiBot",
}

_F = "test_mirai_faults.py::"
_B = "test_mirai_bot.py::"
_H = "test_mirai_http.py::"
_P = "test_mirai_protocol.py::"
_S = "test_mirai_process.py::"

#: id -> scenarios
MIRAI_MATRIX: Dict[str, List[Scenario]] = {
    "CONN-01": [
        (_S + "test_a_1006_is_survived_and_the_bot_answers_again", "seed 002: a real process survives a 1006"),
        (_S + "test_mirai_not_up_at_start_is_waited_for", "seed 002: started before mirai -> waits, connects"),
        (_B + "test_reconnects_after_1006_with_a_fresh_session", "1006 -> reconnected, new session, events flow"),
        (_F + "test_conn01_a_clean_close_after_the_handshake_is_not_a_shutdown", "close 1000/1001/1011 -> reconnected"),
        (_B + "test_account_not_logged_in_is_retried_until_it_is", "code 2 -> retried until the account logs in"),
        (_B + "test_a_bot_started_before_mirai_finds_it", "MAH not up yet -> retried, found"),
    ],
    "CONN-02": [
        (_F + "test_budget_and_backoff_bound_the_attempts", "refused connects follow the backoff"),
    ],
    "CONN-03": [
        (_F + "test_conn03_handshake_never_answered_is_a_connect_timeout_then_retried",
         "accepted, never answered -> connect timeout, retried"),
    ],
    "CONN-04": [
        (_F + "test_conn04_wrong_path_is_retried_and_explained", "404 -> logged, retried, never fatal"),
    ],
    "CONN-05": [
        (_B + "test_half_open_link_is_noticed_by_pings", "half-open -> no pong -> reconnected"),
    ],
    "CONN-06": [
        (_B + "test_half_open_link_is_noticed_by_pings", "WebSocket pings on a quiet link (MAH has no heartbeat)"),
    ],
    "LIVE-01": [
        (_B + "test_group_message_in_reply_out", "no heartbeat, no lifecycle: ready from the handshake frame"),
    ],
    "LIVE-03": [
        (_F + "test_live03_account_offline_events_fail_sends_fast", "BotOfflineEvent* -> AccountOffline; relogin"),
        (_H + "test_account_not_logged_in_is_retried", "HTTP: /bind code 2 -> retried"),
    ],
    "LIVE-05": [
        (_F + "test_proc02_mah_restart_over_ws_gets_a_new_session", "MAH restart -> new session"),
        (_B + "test_half_open_link_is_noticed_by_pings", "MAH hangs -> pings notice"),
    ],
    "SEND-01": [
        (_B + "test_code_500_after_delivery_is_verified_not_resent", "500 after delivery -> verified by roaming"),
    ],
    "SEND-02": [
        (_B + "test_code_500_not_delivered_is_resent_once_after_the_settle_window", "absent -> one resend"),
        (_B + "test_unverifiable_500_raises_send_unconfirmed", "undecidable -> SendUnconfirmed, never resent"),
    ],
    "SEND-03": [
        (_B + "test_message_id_minus_one_raises_not_delivered", "messageId -1 -> NotDelivered, not resent"),
    ],
    "SEND-04": [
        (_P + "test_classify", "messageId -1 / '-1' / not a number classified"),
    ],
    "SEND-05": [
        (_F + "test_send05_never_answered_is_verified_not_resent", "no answer -> timeout -> verified"),
    ],
    "SEND-06": [
        (_F + "test_send06_late_answer_is_verified_not_resent", "late answer -> verified, sent once"),
    ],
    "SEND-07": [
        (_B + "test_pending_call_fails_at_once_when_the_socket_drops", "pending call failed at once"),
        (_F + "test_send07_drop_with_a_send_in_flight_is_verified", "send in flight -> verified, sent once"),
        (_F + "test_send07_a_read_cut_off_by_a_drop_is_asked_again_a_send_is_not",
         "a read asked again on the next connection; a mutation never"),
    ],
    "SEND-08": [
        (_F + "test_send08_a_stalled_call_holds_up_nothing_else", "a stalled call blocks nothing"),
    ],
    "SEND-09": [
        (_P + "test_classify", "every MAH code classified: retry / not sent / unknown / auth / session"),
        (_B + "test_quote_not_cached_is_resent_without_the_quote", "code 5 with quote -> resent without it"),
        (_B + "test_refusals_are_typed_and_not_resent", "20 muted -> ActionFailed permission"),
    ],
    "RECV-01": [
        (_F + "test_recv01_messages_missed_while_disconnected_are_recovered",
         "missed friend and group messages read back from roamingMessages, recovered=True, once"),
        (_F + "test_recv01_groups_on_old_mah_are_not_recovered_but_friends_are", "MAH < 2.10: friends only"),
    ],
    "RECV-02": [
        (_B + "test_repeated_message_ids_are_dropped", "(chat, messageId) repeats dropped"),
    ],
    "RECV-05": [
        (_P + "test_every_received_element_converts_and_nothing_is_dropped", "unknown elements kept"),
        (_F + "test_recv05_unknown_event_types_reach_handlers_by_name", "unknown event types dispatched"),
    ],
    "RECV-06": [
        (_B + "test_bare_400_and_garbage_do_not_kill_the_reader", "bare {code:400}, non-JSON -> counted"),
    ],
    "RECV-07": [
        (_B + "test_events_by_mah_name_and_own_sync_messages_ignored", "*SyncMessage never reaches on_message"),
    ],
    "MEDIA-01": [
        (_B + "test_fetch_image_refuses_an_expired_link_page", "HTML page -> MediaUnavailable"),
        (_B + "test_fetch_image_from_an_event", "valid image fetched and cached"),
    ],
    "MEDIA-03": [
        (_B + "test_media_is_sent_inline", "URL fetched here, checked, inlined as base64"),
        (_B + "test_media_that_cannot_be_sent_is_refused_before_sending", "a 404 URL -> MediaUnavailable, not sent"),
    ],
    "MEDIA-05": [
        (_B + "test_media_that_cannot_be_sent_is_refused_before_sending", "over the limit -> MediaTooLarge, not sent"),
    ],
    "MEDIA-04": [
        (_B + "test_media_is_sent_inline", "local path -> base64 (MAH runs elsewhere)"),
    ],
    "AUTH-01": [
        (_B + "test_wrong_verify_key_raises_from_run_and_is_not_retried", "code 1 + close 1000 -> AuthenticationError"),
        (_B + "test_bad_qq_raises_from_run", "code 400 -> AuthenticationError"),
        (_H + "test_wrong_key_raises_from_run", "HTTP /verify code 1 -> AuthenticationError"),
    ],
    "PROC-01": [
        (_S + "test_signal_stops_run_quickly", "SIGINT/SIGTERM -> exit 0 < 2 s (ws, http, MAH down)"),
        (_S + "test_unrecoverable_exits_non_zero", "wrong key / budget spent -> exits non-zero, never hangs"),
        (_F + "test_proc01_stop_with_a_call_in_flight_is_quick", "stop with a call in flight < 2 s"),
        (_H + "test_release_on_stop", "HTTP session released on stop"),
    ],
    "PROC-02": [
        (_F + "test_proc02_mah_restart_over_ws_gets_a_new_session", "ws: restart -> fresh session"),
        (_H + "test_mah_restart_re_verifies_replays_once_and_polling_resumes", "http: code 3 -> re-verify, replay"),
        (_H + "test_poll_code_3_makes_a_new_session", "http: polling resumes after code 3"),
    ],
    "RATE-01": [
        (_F + "test_rate01_not_delivered_opens_the_chats_circuit", "messageId -1 -> that chat's circuit opens"),
    ],
}
