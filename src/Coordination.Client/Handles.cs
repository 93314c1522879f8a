using Medallion.Threading;

namespace Coordination.Client;

/// <summary>Our handles as DistributedLock.Core's interfaces, without moving an argument error into the task.</summary>
internal static class Handles
{
    public static async ValueTask<IDistributedSynchronizationHandle?> UpcastOrNull<T>(ValueTask<T?> acquire)
        where T : class, IDistributedSynchronizationHandle => await acquire;

    public static async ValueTask<IDistributedSynchronizationHandle> Upcast<T>(ValueTask<T> acquire)
        where T : class, IDistributedSynchronizationHandle => await acquire;

    public static async ValueTask<IDistributedLockUpgradeableHandle?> UpcastUpgradeableOrNull(ValueTask<CoordinationUpgradeableLockHandle?> acquire) => await acquire;

    public static async ValueTask<IDistributedLockUpgradeableHandle> UpcastUpgradeable(ValueTask<CoordinationUpgradeableLockHandle> acquire) => await acquire;
}
