"""Analysis of scored runs: metrics and bootstraps, Tables 1-2, the paper's conclusions, the non-CNN baseline."""
