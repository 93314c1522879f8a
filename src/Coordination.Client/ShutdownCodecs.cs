using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization.Invocation;
using Orleans.Serialization.Serializers;

namespace Coordination.Client;

/// <summary>
/// Creates, while the application's container is alive, Orleans' serializers for every call of the service's grain
/// interfaces, so the calls a client makes on its way out (closing its session, withdrawing, resigning) can still be
/// sent while that container is torn down.
/// </summary>
/// <remarks>
/// Orleans creates a type's codec the first time it sends one, resolving it from the service provider. A host disposed
/// without being stopped (<c>using var app</c> after <c>StartAsync</c>, the process then returning from Main) disposes
/// its provider first and only then the client: the first close of a session failed there with
/// <see cref="ObjectDisposedException"/>, and the session's locks stayed held until its TTL ran out.
/// </remarks>
internal static class ShutdownCodecs
{
    private static readonly Lazy<Type[]> Invokables = new(() =>
        [.. typeof(ISessionGrain).Assembly.GetTypes().Where(t => typeof(IInvokable).IsAssignableFrom(t) && t is { IsClass: true, IsAbstract: false, ContainsGenericParameters: false })]);

    /// <summary>Creates the codecs, if <paramref name="services"/> is an Orleans client's or silo's container (not a test double's).</summary>
    public static void Prepare(IServiceProvider services)
    {
        if (services.GetService<IFieldCodecProvider>() is not { } codecs)
        {
            return;
        }

        foreach (var type in Invokables.Value)
        {
            codecs.GetCodec(type);
        }
    }
}
