"""The reward side of other trainers: TRL (`trl`), veRL (`verl`) and OpenRLHF (`openrlhf`), all scoring
through `scoring.RewardScorer`, the reward `coder-rl rl run` trains with."""
