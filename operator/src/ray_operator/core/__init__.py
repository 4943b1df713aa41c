"""The reconcile core the three kinds plug into: watch-fed stores and informers, per-uid
memory, the pass (`loop`), the actions a pass decides and the executor that performs them."""
