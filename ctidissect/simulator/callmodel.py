"""Runtime state of the simulated peripheral gateway: CTI sessions, agents, teams, calls.

These are plain records; the rules that change them live in :mod:`.server`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import AgentConfig
from .enum_values import AGENT_STATE


@dataclass(eq=False)
class Team:
    id: int
    name: str
    peripheral: int
    supervisors: list[Agent] = field(default_factory=list)
    """Primary supervisor first."""
    members: list[Agent] = field(default_factory=list)


@dataclass(eq=False)
class Agent:
    """An agent device of a peripheral.  ``ready_state`` is the state the agent returns to
    when its last call ends (AVAILABLE after an ACD call, or a NOT_READY asked while
    talking)."""

    config: AgentConfig
    state: int = AGENT_STATE["LOGOUT"]
    ready_state: int = AGENT_STATE["NOT_READY"]
    reason_code: int = 0
    team: Team | None = None
    calls: list[Call] = field(default_factory=list)
    available_since: float = 0.0
    state_since: float = 0.0

    @property
    def agent_id(self) -> str:
        return self.config.agent_id

    @property
    def extension(self) -> str:
        return self.config.extension

    @property
    def instrument(self) -> str:
        return self.config.instrument

    @property
    def peripheral(self) -> int:
        return self.config.peripheral

    @property
    def logged_in(self) -> bool:
        return self.state != AGENT_STATE["LOGOUT"]

    def state_calls(self) -> list[Call]:
        """Calls that count for the agent state (supervisor monitor calls do not)."""
        return [c for c in self.calls if c.affects_state]


@dataclass(eq=False)
class Party:
    """One connection of a call: (ConnectionCallID, CONNECTION_ID_STATIC, ``device``)."""

    device: str
    agent: Agent | None
    lcs: int


@dataclass(eq=False)
class Call:
    call_id: int
    peripheral: int
    call_type: int
    cause: int
    """EventCause carried by the call's events (CEC_NONE for ordinary calls, 44 emergency,
    43 supervisor assist, 46-49 supervise)."""
    ani: str = ""
    dnis: str = ""
    dialed: str = ""
    call_vars: dict[int, str] = field(default_factory=dict)
    parties: list[Party] = field(default_factory=list)
    begun: set[int] = field(default_factory=set)
    """Connections (session keys) that received BEGIN_CALL_EVENT for this call."""
    router_key: tuple[int, int] | None = None
    affects_state: bool = True
    linked: list[Call] = field(default_factory=list)
    """Supervise calls attached to this agent call; cleared with it."""
    ended: bool = False

    def party_of(self, agent: Agent) -> Party | None:
        for p in self.parties:
            if p.agent is agent:
                return p
        return None


@dataclass(eq=False)
class Session:
    """One TCP connection to the server and the CTI session on it (once opened)."""

    conn: int
    side: str
    peer_ip: str
    peer_port: int
    connected_at: float
    buf: bytearray = field(default_factory=bytearray)
    version: int | None = None
    opened: bool = False
    closing: bool = False
    session_id: int = 0
    client_id: str = ""
    client_signature: str = ""
    services: int = 0
    call_mask: int = 0
    agent_mask: int = 0
    monitor_id: int = 0
    peripheral_id: int = 0xFFFFFFFF
    agent: Agent | None = None
    idle_timeout: float | None = None
    last_rx: float = 0.0
    idle_check_at: float | None = None
    team_monitors: dict[int, int] = field(default_factory=dict)
    """MonitorID -> TeamID of MONITOR_AGENT_TEAM_START_REQs in force."""
