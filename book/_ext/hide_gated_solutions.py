"""Make ``hide_solutions`` work for sphinx-exercise's gated solutions (student edition).

sphinx-exercise 1.2.1 drops a ``solution-start`` when ``hide_solutions`` is true but keeps
its ``solution-end`` node (which no HTML writer knows: the build crashes) and everything
between the two (which is the solution: it would be shown). With this extension loaded and
``hide_solutions: true``, each ``solution-start`` leaves a marker, and a transform that runs
before sphinx-exercise's merges removes the marker, the solution and its ``solution-end``.
With ``hide_solutions: false`` the directive behaves exactly as sphinx-exercise's.
"""
from __future__ import annotations

from docutils import nodes
from sphinx.transforms import SphinxTransform
from sphinx_exercise.directive import SolutionStartDirective
from sphinx_exercise.nodes import solution_end_node


class hidden_solution(nodes.Element):
    """Where a hidden gated solution starts; removed before writing."""


class StudentSolutionStart(SolutionStartDirective):
    def run(self):
        result = super().run()  # keeps sphinx-exercise's checks of the gates' structure
        return [hidden_solution()] if self.config.hide_solutions else result


class RemoveHiddenSolutions(SphinxTransform):
    default_priority = 5  # before sphinx-exercise's MergeGatedSolutions (10)

    def apply(self):
        for marker in list(self.document.findall(hidden_solution)):
            parent = marker.parent
            start = parent.index(marker)
            end = next((i for i in range(start, len(parent.children))
                        if isinstance(parent.children[i], solution_end_node)), None)
            if end is None:
                raise self.document.reporter.severe(
                    "A hidden solution has no `solution-end` at the same level; close every "
                    "`solution-start` with a `solution-end` in the same section.",
                    base_node=marker)
            for child in parent.children[start:end + 1]:
                parent.remove(child)


def setup(app):
    app.setup_extension("sphinx_exercise")
    app.add_directive("solution-start", StudentSolutionStart, override=True)
    app.add_transform(RemoveHiddenSolutions)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
