// These tests start whole clusters of processes on fixed port blocks: one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
