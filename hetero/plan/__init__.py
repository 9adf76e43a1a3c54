"""Planning: a model to a ``Plan``, one pipeline of stages (``hetero.plan.pipeline`` draws
it), each stage in one file: the objective and caps (``objective``), the capability and cost
tables (``capability``, ``costs``), the timeline simulator (``timeline``), placement
(``place``) with its exact solvers (``chain``, ``milp``, exhaustive search in
``heuristics``) and heuristics (``heuristics``, scored by ``score``), the partition into
device units (``partition``), the prepared steps (``prepare``) and the presentation
(``view``). Nothing is imported here, so ``hetero.runtime`` can show a plan through
``hetero.plan.view`` while the pipeline builds plans the runtime runs."""
