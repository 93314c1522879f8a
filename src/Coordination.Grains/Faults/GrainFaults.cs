using Coordination.Grains.Locks;
using Coordination.Replication.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Coordination.Grains.Faults;

/// <summary>
/// The one seam through which this assembly's deliberately broken variants enter, so that the grains'
/// production path never steps over them. The choice is <see cref="ReplicationOptions.Unsafe"/>, which no
/// configuration alone can set (only the silo host, with its fault injection on). Today it holds one
/// variant: <see cref="TokensFromMemory"/>, for the lock grain's <see cref="IClientTokens"/>.
/// </summary>
internal static class GrainFaults
{
    /// <summary>Registers the per-activation token view of lock grains: the register's own tokens unless a broken variant is chosen.</summary>
    public static IServiceCollection AddGrainFaults(this IServiceCollection services) =>
        services.AddTransient(sp => ClientTokens(sp.GetRequiredService<IOptions<ReplicationOptions>>().Value));

    private static IClientTokens ClientTokens(ReplicationOptions options) =>
        options.Unsafe == UnsafeControl.TokensFromMemory ? new TokensFromMemory() : RegisterTokens.Instance;
}
