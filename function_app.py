"""THE list of Rapport's triggers: HTTP routes, timers and the work queue, as Azure Functions runs them.

`rapport serve` reads this same FunctionApp (app.get_functions()) and runs it on aiohttp and
asyncio, so local runs and end-to-end tests exercise exactly what Azure runs. Each trigger is thin:
it parses, calls one function, and returns. `_http` gives every route the same error handling:
a 4xx with a short message and a correlation id, or a 500 with the correlation id and no trace.

The file ends with the process's wiring, in one block: the work handlers (rapport.work.HANDLER_MODULES)
and the services only bot/ can make (runtime.provide). Nothing is wired by importing a module for
its side effects; bot/, the Graph SDK and botbuilder load when first called.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import azure.functions as func

from rapport import runtime, telemetry, work, work_queue
from rapport.web import Answer, Request, clean_params, error_answer, new_correlation_id, refusal

runtime.tune_gc()  # the worker process is Rapport's: its collector suits capture's allocation pattern
app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
log = logging.getLogger("rapport.http")


async def _http(req: func.HttpRequest, handler) -> func.HttpResponse:
    cid = req.headers.get("x-correlation-id") or new_correlation_id()
    cid = cid if len(cid) <= 64 and cid.replace("-", "").isalnum() else new_correlation_id()
    # One span per call, named by the handler (a fixed word, never the URL: its query may carry an
    # address), child of the caller's W3C traceparent when one came with the request. Internal, not
    # a server span: in Azure the Functions host already records the request itself.
    name = f"{handler.__module__}.{handler.__name__}"
    with telemetry.span(name, traceparent=req.headers.get("traceparent"),
                        **{"rapport.correlation_id": cid, "rapport.trigger": "http",
                           "http.request.method": req.method.upper()}) as span:
        response = await _answer(req, handler, cid)
        span.set_attribute("http.response.status_code", response.status_code)
        if response.status_code >= 500:
            telemetry.http_errors.add(1, {"http.response.status_code": response.status_code})
        return response


async def _answer(req: func.HttpRequest, handler, cid: str) -> func.HttpResponse:
    request = Request(
        method=req.method.upper(),
        path=req.url,
        headers={k.lower(): v for k, v in req.headers.items()},
        params=clean_params(req.params),  # query strings are outsider text: cleaned before any handler
        body=req.get_body() or b"",
        correlation_id=cid,
    )
    try:
        answer: Answer = await handler(request)
        answer.headers.setdefault("x-correlation-id", cid)
    except Exception as exc:  # noqa: BLE001 - a refusal is answered as such; anything else is a 500
        refused = refusal(exc)  # ApiError, or a store exception mapped to its status (rapport.web.STATUS_OF)
        if refused is None:  # the caller gets a correlation id, the log gets the trace
            log.exception("unhandled error in %s", handler.__name__, extra={"correlation_id": cid})
            answer = error_answer(500, "something went wrong on our side; quote the correlation id", cid)
        else:
            # The path only: the URL's host is the caller's Host header and its query may carry an address.
            log.info("refused %s %s: %s %s", request.method, urlsplit(req.url).path[:200], refused.status,
                     refused.message, extra={"correlation_id": cid})
            answer = error_answer(refused.status, refused.message, cid, refused.headers)
    headers = {"x-content-type-options": "nosniff", "cache-control": "no-store", **answer.headers}
    return func.HttpResponse(answer.encoded(), status_code=answer.status, headers=headers,
                             mimetype=answer.mimetype, charset="utf-8")


# --- probes ------------------------------------------------------------------------------------

@app.route(route="api/health", methods=["GET"])
async def health(req: func.HttpRequest) -> func.HttpResponse:
    return await _http(req, runtime.health)


# --- work after the answer ---------------------------------------------------------------------

@app.timer_trigger(schedule="0 */1 * * * *", arg_name="timer", run_on_startup=False, use_monitor=False)
async def drain_work(timer: func.TimerRequest) -> None:
    # the same drain everywhere (docs/architecture.md, "Work after the answer")
    with telemetry.span("timer.drain_work", **{"rapport.trigger": "timer"}):
        await work.drain_timer(await runtime.store(), past_due=timer.past_due)


# Each work item is also a message on the Storage queue when one is configured (rapport.work_queue):
# the host hands it to one instance, which runs exactly that item. A failure raises, so the host
# delivers it again after host.json's queues.visibilityTimeout (30 s: the item's retry is due then)
# and, after maxDequeueCount (5, the item's attempts) deliveries, moves it to rapport-work-poison,
# which `rapport work` lists. batchSize 8 (x1.5 with newBatchThreshold) keeps an instance's
# concurrent handlers (Graph calls, drafting) well inside its memory beside the HTTP routes; a
# maxPollingInterval of 1 s keeps "approve -> mail sent" near a second (the default is a minute).
@app.queue_trigger(arg_name="msg", queue_name=work_queue.QUEUE_NAME, connection=work_queue.CONNECTION)
async def work_message(msg: func.QueueMessage) -> None:
    await work.drain_message(await runtime.store(), msg.get_body(), dequeue_count=msg.dequeue_count)


# --- Outlook add-in (task pane API and its files) ------------------------------------------------

@app.route(route="api/addin/context", methods=["GET"])
async def addin_context(req: func.HttpRequest) -> func.HttpResponse:
    from addin.context import context

    return await _http(req, context)


@app.route(route="api/addin/notes", methods=["POST"])
async def addin_notes(req: func.HttpRequest) -> func.HttpResponse:
    from addin.notes import add_note

    return await _http(req, add_note)


@app.route(route="api/addin/enquiry", methods=["POST"])
async def addin_enquiry(req: func.HttpRequest) -> func.HttpResponse:
    from addin.enquiry import enquiry_action  # "Log as enquiry" and the next-step button of the sidebar

    return await _http(req, enquiry_action)


@app.route(route="api/addin/intro", methods=["POST"])
async def addin_intro(req: func.HttpRequest) -> func.HttpResponse:
    from addin.relationships import ask_intro

    return await _http(req, ask_intro)


@app.route(route="api/addin/visibility", methods=["POST"])
async def addin_visibility(req: func.HttpRequest) -> func.HttpResponse:
    from addin.relationships import set_visibility

    return await _http(req, set_visibility)


@app.route(route="addin/{*path}", methods=["GET", "HEAD"])
async def addin_static(req: func.HttpRequest) -> func.HttpResponse:
    from addin.static import serve_static

    return await _http(req, serve_static)


# Preview outside Outlook: 404 unless RAPPORT_DEV_AUTH=1 on a loopback-bound local host.
@app.route(route="dev/addin/token", methods=["GET"])
async def dev_addin_token(req: func.HttpRequest) -> func.HttpResponse:
    from addin.preview import dev_token

    return await _http(req, dev_token)


@app.route(route="dev/addin/senders", methods=["GET"])
async def dev_addin_senders(req: func.HttpRequest) -> func.HttpResponse:
    from addin.preview import dev_senders

    return await _http(req, dev_senders)


# --- Microsoft Graph: webhooks, subscription renewal, safety-net sync ----------------------------
# The "sync-mailbox" and "graph-lifecycle" work handlers load with the drain (HANDLER_MODULES).

@app.route(route="api/graph/notifications", methods=["POST"])
async def graph_notifications(req: func.HttpRequest) -> func.HttpResponse:
    from rapport.capture.webhooks import notifications

    return await _http(req, notifications)


@app.route(route="api/graph/lifecycle", methods=["POST"])
async def graph_lifecycle(req: func.HttpRequest) -> func.HttpResponse:
    from rapport.capture.webhooks import lifecycle

    return await _http(req, lifecycle)


def _webhook_before_body(length: int | None):
    from rapport.capture.webhooks import refuse_unread

    return refuse_unread(length)


# Asked by a host that reads request bodies itself (local.host), per function, before it reads one:
# a refusal (ApiError) to answer unread, or None. Azure's host reads every body before the worker
# sees it, so there these are never asked; locally they keep a flood of 1 MB webhook batches past
# the big-batch credit from costing the sidebar's event loop a read each.
BEFORE_BODY = {"graph_notifications": _webhook_before_body, "graph_lifecycle": _webhook_before_body}


@app.timer_trigger(schedule="0 7 */6 * * *", arg_name="timer", run_on_startup=False, use_monitor=True)
async def graph_subscriptions(timer: func.TimerRequest) -> None:
    from rapport.capture.subscriptions import renewal_timer  # create, renew, recreate; past due: resync all

    with telemetry.span("timer.graph_subscriptions", **{"rapport.trigger": "timer"}):
        await renewal_timer(await runtime.store(), past_due=timer.past_due)


@app.timer_trigger(schedule="0 37 * * * *", arg_name="timer", run_on_startup=False, use_monitor=True)
async def graph_safety_sync(timer: func.TimerRequest) -> None:
    from rapport.capture.sync import safety_net_timer  # queue a delta sync of every captured mailbox

    with telemetry.span("timer.graph_safety_sync", **{"rapport.trigger": "timer"}):
        await safety_net_timer(await runtime.store(), past_due=timer.past_due)


@app.timer_trigger(schedule="0 13 * * * *", arg_name="timer", run_on_startup=False, use_monitor=True)
async def walls_watch(timer: func.TimerRequest) -> None:
    from rapport.firm.walls import walls_watch as watch  # alert once when a firm's walls sync is stale

    with telemetry.span("timer.walls_watch", **{"rapport.trigger": "timer"}):
        await watch(await runtime.store())


# --- Bot Framework (Teams, Outlook actionable messages) ------------------------------------------

@app.route(route="api/messages", methods=["POST"])
async def bot_messages(req: func.HttpRequest) -> func.HttpResponse:
    from bot.routes import messages  # botbuilder loads only when the bot is called

    return await _http(req, messages)


# --- Meeting briefs (before the meeting: Teams, Outlook; on demand: task pane, bot) --------------
# The "brief-delivery" work handler loads with the drain; the Teams sender is wired in below.

@app.timer_trigger(schedule="0 */5 * * * *", arg_name="timer", run_on_startup=False, use_monitor=False)
async def meeting_briefs(timer: func.TimerRequest) -> None:
    from rapport.briefs import brief_timer

    with telemetry.span("timer.meeting_briefs", **{"rapport.trigger": "timer"}):
        await brief_timer(await runtime.store(), past_due=timer.past_due)


@app.route(route="api/addin/brief", methods=["GET"])
async def addin_brief(req: func.HttpRequest) -> func.HttpResponse:
    from addin.brief import brief

    return await _http(req, brief)


@app.route(route="dev/addin/meetings", methods=["GET"])
async def dev_addin_meetings(req: func.HttpRequest) -> func.HttpResponse:
    from addin.brief import dev_meetings  # preview only: 404 unless dev auth on loopback

    return await _http(req, dev_meetings)


# --- Follow-ups (after the meeting: drafted, approved on a Teams card, sent exactly once) --------
# The follow-up work handlers ("draft-followup", "draft-company-followup", "followup-card", "send-draft")
# load with the drain; the Teams card delivery is wired in below (with no bot configured the cards
# land in the local outbox, the embedded default).

@app.route(route="dev/outbox/action", methods=["POST"])
async def dev_outbox_action(req: func.HttpRequest) -> func.HttpResponse:
    from bot.dev_outbox import outbox_action  # the demo's card buttons: 404 unless dev auth on loopback

    return await _http(req, outbox_action)


@app.timer_trigger(schedule="0 */5 * * * *", arg_name="timer", run_on_startup=False, use_monitor=True)
async def followups_timer(timer: func.TimerRequest) -> None:
    from rapport.followups import timer_pass

    with telemetry.span("timer.followups_timer", **{"rapport.trigger": "timer"}):
        await timer_pass(await runtime.store(), past_due=timer.past_due)


@app.timer_trigger(schedule="30 */5 * * * *", arg_name="timer", run_on_startup=False, use_monitor=True)
async def pipeline_timer(timer: func.TimerRequest) -> None:
    from rapport.pipeline.timer import pipeline_timer as run  # enquiry clock (2 h draft, 4 h alert), cadence

    with telemetry.span("timer.pipeline_timer", **{"rapport.trigger": "timer"}):
        await run(await runtime.store(), past_due=timer.past_due)


# --- Admin consent: where Entra's admin-consent link comes back (public: it only shows the result) --

@app.route(route="api/consent/callback", methods=["GET"])
async def consent_callback(req: func.HttpRequest) -> func.HttpResponse:
    from rapport.identity.consent import consent_callback as page

    return await _http(req, page)


# --- Admin API (the firm's admins and scripts; every route @admin_only: the Rapport.Admin app role) --

@app.route(route="api/admin/people", methods=["GET", "POST", "DELETE", "PATCH"])
async def admin_people(req: func.HttpRequest) -> func.HttpResponse:
    from admin.people import people

    return await _http(req, people)


@app.route(route="api/admin/settings", methods=["GET", "PATCH"])
async def admin_settings(req: func.HttpRequest) -> func.HttpResponse:
    from admin.settings import settings

    return await _http(req, settings)


# --- Metrics: weekly roll-ups, the Monday cards, the report page and the BD desk (rapport.metrics) ---
# The "week-card" work handler loads with the drain.

@app.timer_trigger(schedule="0 15 2 * * *", arg_name="timer", run_on_startup=False, use_monitor=True)
async def metrics_rollup(timer: func.TimerRequest) -> None:
    from rapport.metrics.rollup import rollup_timer  # the weeks still open, every firm, once a day

    with telemetry.span("timer.metrics_rollup", **{"rapport.trigger": "timer"}):
        await rollup_timer(await runtime.store(), past_due=timer.past_due)


@app.timer_trigger(schedule="0 */15 * * * *", arg_name="timer", run_on_startup=False, use_monitor=True)
async def week_cards(timer: func.TimerRequest) -> None:
    from rapport.metrics.week import week_cards_timer  # Monday 07:30 in each person's zone, once a week

    with telemetry.span("timer.week_cards", **{"rapport.trigger": "timer"}):
        await week_cards_timer(await runtime.store(), past_due=timer.past_due)


@app.route(route="api/addin/desk", methods=["GET"])
async def addin_desk(req: func.HttpRequest) -> func.HttpResponse:
    from addin.report import desk

    return await _http(req, desk)


@app.route(route="api/addin/report", methods=["GET"])
async def addin_report(req: func.HttpRequest) -> func.HttpResponse:
    from addin.report import firm_report

    return await _http(req, firm_report)


@app.route(route="api/addin/metrics.csv", methods=["GET"])
async def addin_metrics_csv(req: func.HttpRequest) -> func.HttpResponse:
    from addin.report import metrics_csv

    return await _http(req, metrics_csv)


@app.route(route="api/admin/export", methods=["GET"])
async def admin_export(req: func.HttpRequest) -> func.HttpResponse:
    from admin.export import export_page

    return await _http(req, export_page)


@app.route(route="api/admin/contacts/forget", methods=["POST"])
async def admin_forget(req: func.HttpRequest) -> func.HttpResponse:
    from admin.forget import forget

    return await _http(req, forget)


# --- Relationships (introductions' reminders, counsel moves raised and tracked) -------------------
# The "relationship-card" work handler loads with the drain; cards reach Teams through the briefs'
# sender (wired below), else the local outbox.

@app.timer_trigger(schedule="0 */15 * * * *", arg_name="timer", run_on_startup=False, use_monitor=True)
async def relationships_timer(timer: func.TimerRequest) -> None:
    from rapport.relationships import timer_pass

    with telemetry.span("timer.relationships_timer", **{"rapport.trigger": "timer"}):
        await timer_pass(await runtime.store(), past_due=timer.past_due)


@app.route(route="api/admin/walls/import", methods=["POST"])
async def admin_walls_import(req: func.HttpRequest) -> func.HttpResponse:
    from admin.walls import walls_import  # the walls system pushes its export (rapport.firm.walls)

    return await _http(req, walls_import)


# --- wiring ----------------------------------------------------------------------------------------
# Everything this process is given, in one place. Every work kind has its handler from the first
# request, so work kicked after an answer runs at once. Teams is reached through bot/ (rapport/
# never imports bot/): rapport calls these with the settings on the first brief or card it sends to
# Teams, so botbuilder loads then, not at start.

work.load_handlers()


def _teams_briefs(settings):
    from bot.routes import teams_brief_sender

    return teams_brief_sender(settings)


def _teams_cards(settings):
    from bot.routes import teams_card_delivery

    return teams_card_delivery(settings)


runtime.provide(teams_briefs=_teams_briefs, teams_cards=_teams_cards)
