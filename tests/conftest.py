"""Suite-wide pytest hooks and fixtures."""

import pytest
import torch

# The files that grade whole simulated classes are by far the longest. Collected first, they are the first files
# `make test`'s parallel workers (`--dist loadfile`) pick up, and the other worker runs everything else meanwhile
# instead of waiting for them at the end.
LONGEST_FIRST = ("tests/test_grading_e2e.py", "tests/test_cluster.py", "tests/hostile/test_forge_verdicts.py")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def runs_first(item: pytest.Item) -> bool:
        return any(item.nodeid.startswith(path) for path in LONGEST_FIRST)

    items.sort(key=lambda item: not runs_first(item))  # stable: the rest keep their order


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread and one BLAS thread for a test module, restored afterwards.

    Tiny models run fastest on one thread, a busy shared machine makes more threads crawl, and the numbers
    match the notebook harness, which runs the lessons the same way.
    """
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(threads)
