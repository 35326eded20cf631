"""On Citus, a hot query runs on more than one shard instead of exactly one (a router query).

*Problem*: on a Citus cluster a table is split into shards by its distribution column (``user_id``
here). A query that pins that column (``WHERE user_id = $1``) is routed to the one shard holding
the user's rows: one task, one worker, the shard's index. A query that does not pin it is sent to
every shard (``Task Count`` equals the shard count, 32 by default) and the coordinator merges,
sorts and limits what they all return: its cost grows with the cluster instead of with the page,
and one slow worker slows every request.

*Fix*: filter every hot query on the distribution column with an equality to one value
(``user_id = $1``), also in each table of a join (co-located tables join on it shard by shard).
A query that truly spans users belongs in a rollup table or an analytics path, not the hot path.
A query whose contract says ``delegated`` calls a function Citus must send whole to one worker: when
the call's plan is not one task (the function was never delegated, or Citus declined), the function
runs on the coordinator and each of its statements is a round trip to a worker; run ``chatschema
distribute``, which creates and delegates it. Otherwise, on a single PostgreSQL server the rule has
nothing to look at and passes.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..findings import Finding
from . import PlanSubject

NAME = "router-query"


def check(subject: PlanSubject) -> Iterator[Finding]:
    if subject.contract.delegated and subject.plans and not any(
            node.task_count == 1 for node in subject.plans[-1].nodes()):
        last = len(subject.plans) - 1
        yield subject.finding(
            NAME,
            f"{subject.title} is not delegated: its call runs on the coordinator ({subject.plans[-1].root.label}), "
            "each statement of the function a round trip to a worker",
            "Run `chatschema distribute`: it creates the function and delegates it by its owner argument "
            "(create_distributed_function ... force_delegation => true).",
            statement=last, node=subject.plans[-1].root,
        )
    for i, _plan, node in subject.nodes():
        if node.task_count is None or node.task_count == 1:
            continue
        yield subject.finding(
            NAME,
            f"{subject.title} runs on {node.task_count} shards ({node.label} with Task Count {node.task_count}); "
            "a hot query must be routed to exactly one",
            "Filter on the distribution column with one value (user_id = $1), in every table the query joins.",
            statement=i, node=node,
        )
