"""The fault matrix: every fault of the catalog, and the tests that show qqreliable survives it.

The catalog is ``reference/faults.md`` of the project's planning repository:
50 faults real QQ bots hit, with evidence. Each id maps either to scenarios
(tests, named ``file::function``; every parametrisation counts) with the
outcome they assert, or to the reason it cannot apply to any client qqreliable has. A fault lists
the OneBot, official (``official/...``) and MiraiBot (``test_mirai_*``) tests
side by side: the MiraiBot scenarios are kept in :data:`MIRAI_MATRIX` below
(with the faults that cannot apply to a mirai-api-http client,
:data:`MIRAI_NOT_APPLICABLE`) and folded into :data:`MATRIX` at the end of this
module, their text marked ``mirai:``.

``tests/conftest.py`` marks every listed test ``fault_matrix`` (so
``pytest -m fault_matrix`` runs the matrix alone) and prints the coverage
table at the end of a run; ``tests/test_fault_coverage.py`` checks that the
table is complete and that every test it names exists.
"""

from __future__ import annotations

from typing import Dict, List, Tuple

#: id -> short title (our words for the catalog's entries)
CATALOG: Dict[str, str] = {
    "CONN-01": "implementation or client stops reconnecting after an abnormal close",
    "CONN-02": "reconnect storms, duplicate parallel connections",
    "CONN-03": "TCP accepted, WebSocket handshake never completed",
    "CONN-04": "wrong endpoint: HTTP 200/301/404/refused instead of 101",
    "CONN-05": "half-open connection (no FIN, no RST)",
    "CONN-06": "idle connection killed by a proxy after ~60 s",
    "CONN-07": "zombie connection: open, answering, delivering nothing",
    "CONN-08": "two live reverse connections for one bot",
    "CONN-09": "official QQ gateway session rotation (4009 / op 7 / 4902)",
    "CONN-10": "HTTP keep-alive connection reset on reuse",
    "LIVE-01": "heartbeat or lifecycle events missing or irregular",
    "LIVE-02": "disconnect loop from a malformed liveness probe",
    "LIVE-03": "transport alive, QQ account offline",
    "LIVE-04": "heartbeats keep coming, message events stop",
    "LIVE-05": "implementation process crashes or hangs",
    "SEND-01": "failure reported, message delivered",
    "SEND-02": "blind retry after a timeout duplicates the message",
    "SEND-03": "success reported, nothing delivered",
    "SEND-04": "message_id missing, negative, a string or recycled",
    "SEND-05": "action never answered",
    "SEND-06": "answer arrives after the client gave up",
    "SEND-07": "connection drops with calls in flight",
    "SEND-08": "one slow send stalls everything",
    "SEND-09": "error codes ambiguous or lying, per implementation",
    "SEND-10": "merged-forward sends: slow, time out, delivered late",
    "RECV-01": "events lost across a disconnect",
    "RECV-02": "the same event delivered twice",
    "RECV-03": "a slow handler stalls the reader",
    "RECV-04": "webhook: slow answer, retries",
    "RECV-05": "schema drift, unknown event types",
    "RECV-06": "bad bytes: invalid JSON or UTF-8, lone surrogates",
    "RECV-07": "the bot reacts to its own messages",
    "MEDIA-01": "received image URL expired",
    "MEDIA-02": "get_image times out or is huge",
    "MEDIA-03": "outbound media URL the implementation cannot fetch",
    "MEDIA-04": "file:// path the implementation cannot see",
    "MEDIA-05": "payload size limits (base64 bloat)",
    "MEDIA-06": "rich media transfer failed",
    "MEDIA-07": "voice conversion fails",
    "MEDIA-08": "official API media upload",
    "AUTH-01": "access token mismatch, in each implementation's shape",
    "AUTH-02": "reverse WS identity headers missing",
    "AUTH-03": "official API access_token rotation",
    "AUTH-04": "official webhook signatures and replays",
    "PROC-01": "shutdown hangs",
    "PROC-02": "implementation restart invalidates client state",
    "RATE-01": "risk control on an account, target or content",
    "RATE-02": "burst sending throttled",
    "RATE-03": "official API passive-reply window",
    "RATE-04": "official API msg_seq de-duplication",
}

#: id -> why it cannot apply to a OneBot v11 client
NOT_APPLICABLE: Dict[str, str] = {}

Scenario = Tuple[str, str]  # (test node id without parameters, what it shows)

#: id -> scenarios
MATRIX: Dict[str, List[Scenario]] = {
    "CONN-01": [
        ("test_fault_matrix.py::test_conn01_reconnects_after_every_kind_of_close",
         "close 1000/1001/1011 -> reconnected, events flow"),
        ("test_ws_bot.py::test_abrupt_close_reconnects_and_events_flow", "close 1006 -> reconnected"),
        ("test_fault_matrix.py::test_conn01_conn04_bad_handshake_answers_are_retried_and_explained",
         "handshake 502/503 -> retried with backoff, never given up"),
        ("test_reverse_ws.py::test_reconnects_and_pending_calls_fail_fast", "reverse link re-dialled"),
    ],
    "CONN-02": [
        ("test_fault_matrix.py::test_conn02_no_reconnect_storm_and_one_socket_after",
         "refused connects follow the backoff; then exactly one socket, events once"),
        ("test_ws_bot.py::test_no_thread_growth_over_20_reconnects", "20 reconnects, no thread growth"),
        ("test_reverse_ws.py::test_second_connection_replaces_the_first", "newest reverse connection wins"),
    ],
    "CONN-03": [
        ("test_proxy.py::test_stalled_accept_then_recovery_over_ws",
         "handshake never answered -> connect timeout, retried, connects later"),
        ("test_proxy.py::test_stalled_accept_times_out_http_call", "HTTP: ApiTimeout at the deadline"),
    ],
    "CONN-04": [
        ("test_fault_matrix.py::test_conn01_conn04_bad_handshake_answers_are_retried_and_explained",
         "200/301/404 -> logged as 'not a OneBot WebSocket', retried, redirects never followed"),
        ("test_http_bot.py::test_refused_is_connect_failed", "refused port -> ConnectFailed"),
        ("test_reverse_ws.py::test_wrong_path_and_plain_http_refused", "reverse: wrong path refused"),
    ],
    "CONN-05": [
        ("test_ws_bot.py::test_half_open_detected_within_three_heartbeats",
         "half-open -> closed within 3 heartbeat intervals, reconnected"),
        ("test_proxy.py::test_blackhole_is_caught_by_heartbeat_liveness", "TCP blackhole -> same"),
        ("test_reverse_ws.py::test_silent_reverse_link_is_detected_and_replaced", "reverse link too"),
    ],
    "CONN-06": [
        ("test_fault_matrix.py::test_conn06_idle_killer_is_kept_away_by_pings", "pings keep the link alive"),
        ("test_fault_matrix.py::test_conn06_idle_kill_without_pings_is_a_routine_reconnect",
         "an idle kill is a routine reconnect"),
    ],
    "CONN-07": [
        ("test_zombie.py::test_zombie_connection_is_replaced", "answers but no events -> replaced"),
        ("test_reverse_ws.py::test_zombie_reverse_link_is_replaced", "reverse link too"),
    ],
    "CONN-08": [
        ("test_reverse_ws.py::test_second_connection_replaces_the_first", "newest wins, oldest closed"),
        ("test_dedupe.py::test_same_event_on_two_reverse_connections", "events on both -> handled once"),
    ],
    "CONN-10": [
        ("test_fault_matrix.py::test_conn10_reset_keep_alive_connection_between_calls",
         "reset pooled connection -> reads retried, a send sent once"),
        ("test_proxy.py::test_reset_after_request_is_response_lost_and_never_resent",
         "reset after the request -> ResponseLost / verified, sent once"),
    ],
    "LIVE-01": [
        ("test_fault_matrix.py::test_live01_no_lifecycle_no_heartbeat_still_ready",
         "no lifecycle, no heartbeat -> ready via get_login_info"),
    ],
    "LIVE-02": [
        ("test_fault_matrix.py::test_live02_unknown_action_answer_does_not_disconnect",
         "1404 answer -> ActionFailed, link kept"),
    ],
    "LIVE-03": [
        ("test_sends.py::test_bot_offline_notice_fails_sends_fast_until_back", "bot_offline -> AccountOffline fast"),
        ("test_sends.py::test_offline_answer_marks_the_account_offline", "offline-class answer -> offline"),
        ("test_sends.py::test_heartbeat_status_offline_and_back", "heartbeat online:false and back"),
        ("test_media.py::test_offline_account_fails_fast", "media fetch fails fast while offline"),
    ],
    "LIVE-04": [
        ("test_fault_matrix.py::test_live04_events_stop_while_the_link_stays_up",
         "silent stream reconciled from history, marked recovered"),
        ("test_fault_matrix.py::test_live04_an_idle_bot_makes_no_reconciliation_calls", "no cost when idle"),
    ],
    "LIVE-05": [
        ("test_ws_bot.py::test_pending_calls_fail_at_once_when_socket_drops", "in-flight calls fail at once"),
        ("test_ws_bot.py::test_backend_down_at_start_then_up", "backend down -> reconnects when it is back"),
        ("test_fault_matrix.py::test_proc02_restart_recovers_missed_messages", "restart -> gap filled"),
    ],
    "SEND-01": [
        ("test_sends.py::test_1200_after_delivery_is_one_verified_message", "1200 after delivery -> one, verified"),
        ("test_sends.py::test_thousand_sends_with_ambiguous_failures_land_exactly_once",
         "1,000 sends, 30% ambiguous -> each exactly once"),
    ],
    "SEND-02": [
        ("test_sends.py::test_answer_after_the_client_timeout_is_one_message", "late answer -> no resend"),
        ("test_sends.py::test_1200_without_delivery_is_sent_again_once", "verified absent -> sent once more"),
        ("test_sends.py::test_no_reports_and_no_history_is_unconfirmed_and_not_resent",
         "undecidable -> SendUnconfirmed, not resent"),
    ],
    "SEND-03": [
        ("test_sends.py::test_ok_without_message_id_is_verified_and_sent_again", "ok without id -> verified"),
    ],
    "SEND-04": [
        ("test_actions.py::test_receipt_message_id_coercion", "negative / string ids coerced"),
        ("test_send_policy.py::test_ledger_skips_ids_claimed_by_answered_sends", "an id claimed once only"),
    ],
    "SEND-05": [
        ("test_ws_bot.py::test_unanswered_call_times_out_while_others_succeed", "ApiTimeout, others unaffected"),
        ("test_sends.py::test_never_answered_and_not_delivered_is_sent_again", "a send never answered"),
    ],
    "SEND-06": [
        ("test_fault_matrix.py::test_send06_late_reply_is_dropped_not_misdelivered", "late reply dropped"),
    ],
    "SEND-07": [
        ("test_sends.py::test_socket_dropped_after_executing_is_one_message", "dropped after executing -> one"),
        ("test_sends.py::test_socket_dropped_before_executing_is_sent_again", "dropped before -> sent again"),
        ("test_ws_bot.py::test_pending_calls_fail_at_once_when_socket_drops", "pending calls fail at once"),
    ],
    "SEND-08": [
        ("test_ws_bot.py::test_unanswered_call_times_out_while_others_succeed", "a stuck call blocks nothing"),
        ("test_media.py::test_stuck_api_calls_never_starve_direct_downloads", "stuck get_image blocks nothing"),
    ],
    "SEND-09": [
        ("test_actions.py::test_classify", "one table, per implementation and transport"),
        ("test_actions.py::test_every_rule_is_exercised", "every rule has a case"),
        ("test_actions.py::test_decode_lagrange_ok_with_retcode_1_is_a_failure", "status ok, retcode 1"),
    ],
    "SEND-10": [
        ("test_fault_matrix.py::test_send10_forward_send_gets_its_own_deadline", "forwards get 60 s"),
        ("test_fault_matrix.py::test_send10_forward_timeout_answer_is_verified_not_resent",
         "'timed out after 20000 ms' -> verified, one message"),
    ],
    "RECV-01": [
        ("test_gapfill.py::test_numbered_stream_with_a_3s_outage_each_number_exactly_once",
         "3 s outage -> every number exactly once"),
        ("test_gapfill.py::test_reverse_ws_outage_is_recovered", "reverse WS outage too"),
    ],
    "RECV-02": [
        ("test_dedupe.py::test_same_event_twice_on_one_socket", "same socket -> once"),
        ("test_dedupe.py::test_same_event_after_reconnect", "after a reconnect -> once"),
        ("test_webhook.py::test_webhook_retry_is_handled_once", "webhook retry -> once"),
        ("test_dedupe.py::test_same_event_over_websocket_and_webhook", "two channels -> once"),
        ("official/test_official_pipeline.py::test_a_message_pushed_twice_is_handled_once",
         "official: one d.id pushed twice -> once"),
        ("official/test_official_pipeline.py::test_repeated_pushes_dropped_fleet_wide_with_a_store",
         "official: two bots on one store -> once"),
    ],
    "RECV-03": [
        ("test_ws_bot.py::test_blocked_handler_does_not_stall_the_reader", "reader and calls unaffected"),
        ("test_flood.py::test_flood_of_100k_events_into_a_slow_handler", "100k flood: bounded, counted"),
    ],
    "RECV-04": [
        ("test_webhook.py::test_answer_does_not_wait_for_slow_handlers", "204 at once"),
        ("test_webhook.py::test_slow_quick_operation_times_out_with_204", "slow quick operation -> 204"),
    ],
    "RECV-05": [
        ("test_fault_matrix.py::test_recv05_unknown_event_types_reach_generic_handlers", "unknown types dispatched"),
        ("test_fuzz.py::test_event_helpers_never_raise_on_arbitrary_objects", "any object: helpers never raise"),
    ],
    "RECV-06": [
        ("test_fault_matrix.py::test_recv06_lone_surrogates_are_sent_not_fatal", "lone surrogates -> U+FFFD"),
        ("test_ws_bot.py::test_garbage_frames_ignored_and_counted", "garbage frames counted"),
        ("test_fuzz.py::test_garbage_through_a_real_socket_never_stops_the_bot", "fuzzed garbage"),
    ],
    "RECV-07": [
        ("test_fault_matrix.py::test_recv07_own_messages_never_reach_message_handlers", "no reply loop"),
    ],
    "MEDIA-01": [
        ("test_media.py::test_bad_bodies_are_failed_attempts_never_images", "expired JSON / HTML never returned"),
        ("test_media.py::test_hanging_url_healthy_api_answers_from_the_api_well_under_the_url_timeout",
         "dead URL -> image from get_image"),
    ],
    "MEDIA-02": [
        ("test_media.py::test_api_1200_after_8s_healthy_url_answers_in_the_urls_time", "get_image 1200 -> URL wins"),
        ("test_media.py::test_both_dead_fails_fast_listing_each_cause", "both dead -> MediaUnavailable"),
        ("test_media.py::test_size_cap", "size cap"),
    ],
    "MEDIA-03": [
        ("test_outbound.py::test_media03_url_is_downloaded_validated_and_sent_inline", "URL fetched, inlined"),
        ("test_outbound.py::test_media03_bad_url_is_refused_before_anything_is_sent", "bad URL -> not sent"),
        ("test_outbound.py::test_media03_received_image_with_expired_url_is_resent_via_get_image",
         "received image re-sent via get_image"),
    ],
    "MEDIA-04": [
        ("test_outbound.py::test_media04_local_file_reaches_an_isolated_implementation_as_base64",
         "local file -> base64"),
        ("test_outbound.py::test_media04_missing_file_is_not_sent_at_all", "missing file -> not sent"),
    ],
    "MEDIA-05": [
        ("test_outbound.py::test_media05_too_large_is_refused_before_sending_and_the_link_survives",
         "over 8 MiB -> MediaTooLarge"),
        ("test_outbound.py::test_media05_ws_close_1009_after_a_big_send_is_verified_and_never_resent",
         "1009 after a big send -> verified, never resent"),
        ("test_fuzz.py::test_oversized_message_is_refused_and_the_bot_reconnects", "inbound cap"),
    ],
    "MEDIA-06": [
        ("test_outbound.py::test_media06_failed_upload_not_delivered_gets_one_verified_retry", "one verified retry"),
        ("test_outbound.py::test_media06_failed_upload_that_landed_is_not_sent_again", "landed -> not resent"),
    ],
    "MEDIA-07": [
        ("test_outbound.py::test_media07_voice_conversion_failure_is_not_sent_and_never_retried",
         "conversion failure -> MediaRejected, never retried"),
    ],
    "AUTH-01": [
        ("test_ws_bot.py::test_bad_token_raises_from_run_without_retrying",
         "401/403 and the 1403 frame -> AuthenticationError from run()"),
        ("test_http_bot.py::test_bad_token", "HTTP 401/403"),
        ("test_reverse_ws.py::test_missing_and_wrong_tokens_are_rejected", "reverse: 401 / 403"),
        ("test_secrets.py::test_wrong_token_over_ws", "the token never logged"),
    ],
    "AUTH-02": [
        ("test_reverse_ws.py::test_missing_self_id_is_learnt_from_the_first_event", "no X-Self-ID -> learnt"),
        ("test_reverse_ws.py::test_roles_api_and_event_case_insensitive", "roles compared case-insensitively"),
    ],
    "PROC-01": [
        ("test_fault_matrix.py::test_proc01_stop_with_a_call_in_flight_and_a_peer_that_ignores_close",
         "stop with a call in flight, silent peer -> < 2 s"),
        ("test_fault_matrix.py::test_proc01_stop_during_connect_to_a_stalled_port", "stop during connect"),
        ("test_ws_bot.py::test_stop_during_long_backoff_is_quick", "stop during backoff < 1 s"),
        ("test_signals.py::test_signal_stops_run_quickly", "SIGINT/SIGTERM < 2 s"),
    ],
    "PROC-02": [
        ("test_fault_matrix.py::test_proc02_restart_recovers_missed_messages", "restart -> missed messages filled"),
        ("test_fault_matrix.py::test_proc02_restart_as_another_account_is_noticed", "new identity learnt"),
    ],
    "RATE-01": [
        ("test_sends.py::test_risk_control_opens_a_circuit_for_that_target_only", "circuit for one chat"),
        ("test_sends.py::test_repeated_undelivered_1200_opens_the_circuit", "repeated 1200 -> circuit"),
    ],
    "RATE-02": [
        ("test_sends.py::test_pacing_per_target_bucket", "token buckets"),
        ("test_sends.py::test_pacing_beyond_max_wait_is_rate_limited", "RateLimited, nothing sent"),
        ("official/test_official_pipeline.py::test_two_bots_on_one_store_share_one_pacing",
         "official: two bots, one store, one app's pacing"),
    ],
    # The official QQ Bot API (OfficialBot against FakeOfficial).
    "CONN-09": [
        ("official/test_official_faults.py::test_conn09_session_rotation_resume_rejected_and_no_acks",
         "4009 -> resume, missed events replayed; op 7 -> resume; resume refused 4902 -> identify; "
         "no op 11 -> watchdog reconnect; every event once"),
        ("official/test_official_faults.py::test_conn09_never_gives_up_on_resumable_closes", "10 x 4009 -> 10 resumes"),
        ("official/test_official_bot.py::test_close_codes_resume_or_identify", "4009/1000 resume, 4006/4900 identify"),
        ("official/test_official_bot.py::test_fatal_close_codes", "4914/4915/4010/4013 -> raised from run()"),
        ("official/test_official_gateway.py::test_close_codes", "every close code of the reference mapped"),
    ],
    "MEDIA-08": [
        ("official/test_official_faults.py::test_media08_slow_upload_answer_and_retry_safe",
         "URL upload gets the long timeout; a base64 upload timing out is uploaded again; 850026 raised"),
        ("official/test_official_sends.py::test_media_uploaded_once_and_sent_without_stale_msg_id",
         "file_info cached per scope until ttl; proactive media never carries msg_id"),
        ("official/test_official_sends.py::test_upload_retried_on_304082", "304082 retried"),
        ("official/test_official_sends.py::test_upload_304020_raised", "304020 raised, not retried"),
    ],
    "AUTH-03": [
        ("official/test_official_faults.py::test_auth03_token_rotation_and_endpoint_errors",
         "100001 backed off; rotated token refused -> refreshed, call replayed once"),
        ("official/test_official_faults.py::test_auth03_bad_secret_is_final_and_the_fixed_token_never_used",
         "100016 -> AuthenticationError from run() at once; no 'Bot appid.token'"),
        ("official/test_official_token.py::test_single_flight", "one fetch for 8 threads"),
        ("official/test_official_token.py::test_expires_in_is_a_string", "expires_in parsed from a string"),
        ("official/test_official_bot.py::test_4004_refreshes_the_token", "gateway 4004 -> fresh token"),
    ],
    "AUTH-04": [
        ("official/test_official_faults.py::test_auth04_webhook_validation_forgeries_replays",
         "op 13 answered; unsigned 401, wrong key 403, stale timestamp 403; redelivery acked once"),
        ("official/test_official_webhook.py::test_op13_vector", "the documented op 13 vector"),
        ("official/test_official_stream_webhook.py::test_webhook_refuses_bad_signatures", "no handler runs"),
    ],
    "RATE-03": [
        ("official/test_official_faults.py::test_rate03_window_and_quota",
         "6th reply / window passed -> typed error, nothing sent; platform 304027 -> proactive once"),
        ("official/test_official_sends.py::test_platform_says_expired_goes_proactive_once", "remembered"),
        ("official/test_official_replies.py::test_window_per_scene", "5 min group, 60 min C2C"),
    ],
    "RATE-04": [
        ("official/test_official_faults.py::test_rate04_5xx_before_and_after_delivery_land_once",
         "500/504 after delivery, 502/503/429 before -> one delivery, same msg_seq"),
        ("official/test_official_faults.py::test_rate04_lost_answer_retried_with_same_seq",
         "answer lost -> retried with the same msg_seq -> 40054005 = delivered; next message new seq"),
        ("official/test_official_sends.py::test_proactive_unknown_outcome_is_not_resent",
         "proactive 500 -> SendUnconfirmed, not resent"),
        ("official/test_official_pipeline.py::test_two_bots_replying_to_one_message_share_msg_seq_and_budget",
         "two processes on one store never reuse a msg_seq"),
    ],
}


# --------------------------------------------------------------------------- MiraiBot (mirai-api-http v2)

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
MIRAI_OPEN: Dict[str, str] = {}

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
    "CONN-10": [
        (_F + "test_conn10_reset_keep_alive_connection_between_calls_over_http",
         "HTTP adapter: pooled connections reset -> a read asked again, a send sent once, polling resumes"),
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
    "RECV-03": [
        (_F + "test_recv03_a_blocked_handler_does_not_stall_the_reader",
         "reader, calls, sends and other workers unaffected"),
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
    "RATE-02": [
        (_F + "test_rate02_burst_to_one_chat_is_paced_then_rate_limited", "per-chat token buckets"),
        (_F + "test_rate02_a_wait_beyond_max_wait_is_rate_limited_and_not_sent", "RateLimited, nothing sent"),
    ],
}


def _fold_mirai() -> None:
    for fault_id, scenarios in MIRAI_MATRIX.items():
        MATRIX.setdefault(fault_id, []).extend((node, "mirai: " + what) for node, what in scenarios)


_fold_mirai()
