"""ARM / task routing messages (GED-188 section 4.4, types 151-215): media login, task
offer/start/end indications, agent and task initialisation, task monitors and routing.

No source publishes these bodies (10.7; SC and HS keep them raw): every message is declared
by name only and decodes to its raw body.  Kinds follow the names (``_REQ`` request, ``_RESP``/
``_CONF`` its confirmation, ``_IND`` one-way indication, ``_EVENT`` event); the table gives no
direction column, so indications and requests are taken as client to server and responses and
events as server to client."""

from __future__ import annotations

from ..declare import conf, event, ind, req
from ..schema import EITHER

MESSAGES = [
    req(151, "MEDIA_LOGIN_REQ", None, doc="Logs an agent in to a media routing domain", ref="4.4"),
    conf(152, "MEDIA_LOGIN_RESP", "MEDIA_LOGIN_REQ", None, doc="Positive reply to MEDIA_LOGIN_REQ", ref="4.4"),
    ind(153, "MEDIA_LOGOUT_IND", None, doc="Agent logged out of a media routing domain", ref="4.4"),
    ind(154, "MAKE_AGENT_ROUTABLE_IND", None, doc="Agent made routable", ref="4.4"),
    req(155, "MAKE_AGENT_NOT_ROUTABLE_REQ", None, doc="Makes an agent not routable", ref="4.4"),
    conf(
        156,
        "MAKE_AGENT_NOT_ROUTABLE_RESP",
        "MAKE_AGENT_NOT_ROUTABLE_REQ",
        None,
        doc="Positive reply to MAKE_AGENT_NOT_ROUTABLE_REQ",
        ref="4.4",
    ),
    ind(157, "MAKE_AGENT_READY_IND", None, doc="Agent made ready", ref="4.4"),
    req(158, "MAKE_AGENT_NOT_READY_REQ", None, doc="Makes an agent not ready", ref="4.4"),
    conf(
        159,
        "MAKE_AGENT_NOT_READY_RESP",
        "MAKE_AGENT_NOT_READY_REQ",
        None,
        doc="Positive reply to MAKE_AGENT_NOT_READY_REQ",
        ref="4.4",
    ),
    ind(160, "OFFER_TASK_IND", None, doc="A task was offered to the agent", ref="4.4"),
    req(161, "OFFER_APPLICATION_TASK_REQ", None, doc="Offers an application task", ref="4.4"),
    conf(
        162,
        "OFFER_APPLICATION_TASK_RESP",
        "OFFER_APPLICATION_TASK_REQ",
        None,
        doc="Positive reply to OFFER_APPLICATION_TASK_REQ",
        ref="4.4",
    ),
    ind(163, "START_TASK_IND", None, doc="Agent started a task", ref="4.4"),
    req(164, "START_APPLICATION_TASK_REQ", None, doc="Starts an application task", ref="4.4"),
    conf(
        165,
        "START_APPLICATION_TASK_RESP",
        "START_APPLICATION_TASK_REQ",
        None,
        doc="Positive reply to START_APPLICATION_TASK_REQ",
        ref="4.4",
    ),
    ind(166, "PAUSE_TASK_IND", None, doc="Agent paused a task", ref="4.4"),
    ind(167, "RESUME_TASK_IND", None, doc="Agent resumed a task", ref="4.4"),
    ind(168, "WRAPUP_TASK_IND", None, doc="Agent entered wrap-up for a task", ref="4.4"),
    ind(169, "END_TASK_IND", None, doc="Task ended", ref="4.4"),
    event(170, "AGENT_MADE_NOT_ROUTABLE_EVENT", None, doc="The agent was made not routable", ref="4.4"),
    event(171, "AGENT_INTERRUPT_ADVISORY_EVENT", None, doc="An agent task may be interrupted", ref="4.4"),
    ind(172, "AGENT_INTERRUPT_ACCEPTED_IND", None, doc="Agent accepted the interruption", ref="4.4"),
    ind(173, "AGENT_INTERRUPT_UNACCEPTED_IND", None, doc="Agent refused the interruption", ref="4.4"),
    event(174, "AGENT_INTERRUPT_DONE_ADVISORY_EVENT", None, doc="The interruption is over", ref="4.4"),
    ind(
        175, "AGENT_INTERRUPT_DONE_ACCEPTED_IND", None, doc="Agent acknowledged the end of the interruption", ref="4.4"
    ),
    req(176, "CHANGE_MAX_TASK_LIMIT_REQ", None, doc="Changes the agent's maximum task limit", ref="4.4"),
    conf(
        177,
        "CHANGE_MAX_TASK_LIMIT_RESP",
        "CHANGE_MAX_TASK_LIMIT_REQ",
        None,
        doc="Positive reply to CHANGE_MAX_TASK_LIMIT_REQ",
        ref="4.4",
    ),
    req(178, "OVERRIDE_LIMIT_REQ", None, doc="Overrides the agent's task limit", ref="4.4"),
    conf(179, "OVERRIDE_LIMIT_RESP", "OVERRIDE_LIMIT_REQ", None, doc="Positive reply to OVERRIDE_LIMIT_REQ", ref="4.4"),
    ind(180, "UPDATE_TASK_CONTEXT_IND", None, doc="Updates the context data of a task", ref="4.4"),
    ind(181, "BEGIN_AGENT_INIT_IND", None, doc="Start of the agent initialisation exchange", ref="4.4"),
    req(182, "AGENT_INIT_REQ", None, doc="Initialises one agent's state", ref="4.4"),
    conf(183, "AGENT_INIT_RESP", "AGENT_INIT_REQ", None, doc="Positive reply to AGENT_INIT_REQ", ref="4.4"),
    ind(184, "END_AGENT_INIT_IND", None, doc="End of the agent initialisation exchange", ref="4.4"),
    ind(185, "TASK_INIT_IND", None, doc="Initialises one task's state", ref="4.4"),
    event(186, "AGENT_INIT_READY_EVENT", None, doc="Agent initialisation may begin", ref="4.4"),
    req(187, "GET_PRECALL_MESSAGES_REQ", None, doc="Requests the pre-call messages", ref="4.4"),
    conf(
        188,
        "GET_PRECALL_MESSAGES_RESP",
        "GET_PRECALL_MESSAGES_REQ",
        None,
        doc="Positive reply to GET_PRECALL_MESSAGES_REQ",
        ref="4.4",
    ),
    event(189, "AGENT_LEGACY_PRE_CALL_EVENT", None, doc="Legacy pre-call event", ref="4.4"),
    # FAILURE_RESP answers ARM indications in general (4.4), not one request.
    conf(190, "FAILURE_RESP", None, None, doc="Negative reply to ARM indications", ref="4.4"),
    event(191, "BEGIN_TASK_EVENT", None, doc="A task began", ref="4.4"),
    event(192, "QUEUED_TASK_EVENT", None, doc="A task was queued", ref="4.4"),
    event(193, "DEQUEUED_TASK_EVENT", None, doc="A task left the queue", ref="4.4"),
    event(194, "OFFER_TASK_EVENT", None, doc="A task was offered to an agent", ref="4.4"),
    event(195, "START_TASK_EVENT", None, doc="An agent started a task", ref="4.4"),
    event(196, "PAUSE_TASK_EVENT", None, doc="An agent paused a task", ref="4.4"),
    event(197, "RESUME_TASK_EVENT", None, doc="An agent resumed a task", ref="4.4"),
    event(198, "WRAPUP_TASK_EVENT", None, doc="A task entered wrap-up", ref="4.4"),
    event(199, "END_TASK_EVENT", None, doc="A task ended", ref="4.4"),
    event(200, "TASK_DATA_UPDATE_EVENT", None, doc="The context data of a task changed", ref="4.4"),
    req(201, "TASK_MONITOR_START_REQ", None, doc="Starts a task monitor", ref="4.4"),
    conf(
        202,
        "TASK_MONITOR_START_CONF",
        "TASK_MONITOR_START_REQ",
        None,
        doc="Positive reply to TASK_MONITOR_START_REQ",
        ref="4.4",
    ),
    req(203, "TASK_MONITOR_STOP_REQ", None, doc="Stops a task monitor", ref="4.4"),
    conf(
        204,
        "TASK_MONITOR_STOP_CONF",
        "TASK_MONITOR_STOP_REQ",
        None,
        doc="Positive reply to TASK_MONITOR_STOP_REQ",
        ref="4.4",
    ),
    req(205, "CHANGE_TASK_MONITOR_MASK_REQ", None, doc="Changes the mask of a task monitor", ref="4.4"),
    conf(
        206,
        "CHANGE_TASK_MONITOR_MASK_CONF",
        "CHANGE_TASK_MONITOR_MASK_REQ",
        None,
        doc="Positive reply to CHANGE_TASK_MONITOR_MASK_REQ",
        ref="4.4",
    ),
    event(207, "MAX_TASK_LIFETIME_EXCEEDED_EVENT", None, doc="A task exceeded its maximum lifetime", ref="4.4"),
    ind(208, "SET_APP_PATH_DATA_IND", None, doc="Application path data", ref="4.4"),
    req(209, "TASK_INIT_REQ", None, doc="Initialises one task's state", ref="4.4"),
    conf(210, "TASK_INIT_RESP", "TASK_INIT_REQ", None, doc="Positive reply to TASK_INIT_REQ", ref="4.4"),
    # The ROUTE_* events have no stated direction.
    event(211, "ROUTE_REGISTER_EVENT", None, direction=EITHER, doc="Route registration", ref="4.4"),
    event(212, "ROUTE_REGISTER_REPLY_EVENT", None, direction=EITHER, doc="Reply to a route registration", ref="4.4"),
    event(213, "ROUTE_REQUEST_EVENT", None, direction=EITHER, doc="Route request", ref="4.4"),
    event(
        214, "ROUTE_SELECT_EVENT", None, direction=EITHER, doc="Route selection (older lists: ROUTE_SELECT)", ref="4.4"
    ),
    event(
        215,
        "ROUTE_END_EVENT",
        None,
        direction=EITHER,
        doc="End of a routing dialogue (older lists: ROUTE_END)",
        ref="4.4",
    ),
]
