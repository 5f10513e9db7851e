"""Inference-time search: sample candidates with the policy (best-of-N, PRM beam search, MCTS), then
select one (majority vote, CodeT, ORM/PRM max and vote), and draw the test-time scaling curve."""

from coder_rl.search.run import SearchConfig, run_search
from coder_rl.search.select import AGGREGATIONS, pick

__all__ = ["AGGREGATIONS", "SearchConfig", "run_search", "pick"]
