// The clusters of these tests share two cores: run one test class at a time so timing-sensitive
// failover tests are not starved by another class's cluster.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
