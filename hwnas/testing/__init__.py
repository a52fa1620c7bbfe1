"""Conformance kits for plugins, to run in the plugin's own test suite::

    from hwnas.testing import check_backend, check_op_type

    def test_my_backend_honours_the_contract():
        check_backend("my-backend", invalid_options=[{"num_threads": 0}])

    def test_my_op_type_honours_the_contract():
        check_op_type("sepconv")

    def test_my_space_and_task_honour_theirs():
        check_space("gesture-space")
        check_task("gesture", space="gesture-space")

Each kit runs small checks and raises one AssertionError listing every check that failed (it returns the names
of those that passed). The contracts themselves are in docs/plugins.md.
"""

from hwnas.testing.backend import check_backend
from hwnas.testing.op_type import check_op_type
from hwnas.testing.space import check_space
from hwnas.testing.task import check_task

__all__ = ["check_backend", "check_op_type", "check_space", "check_task"]
