using System.Collections.Concurrent;
using System.Runtime.CompilerServices;

namespace Coordination;

/// <summary>
/// String-keyed grain references without Orleans' per-call type resolution. <c>IGrainFactory.GetGrain&lt;T&gt;(key)</c>
/// reads the interface's custom attributes and formats its type name on every call (about 15 µs, a tenth of a
/// benchmark client's CPU: every acquire makes one); the grain and interface types it finds never change for a
/// factory, so they are looked up once per factory and interface, and each call only builds the id. A process keeps the
/// grain type it first resolved for an interface, as a reference it keeps does: renaming a grain class breaks running
/// clients either way.
/// </summary>
internal static class GrainReferences
{
    private static readonly ConditionalWeakTable<IGrainFactory, ConcurrentDictionary<Type, (GrainType Grain, GrainInterfaceType Interface)>> Types = [];

    /// <summary>The reference <c>GetGrain&lt;T&gt;(key)</c> would give: same grain id, same interface type.</summary>
    public static T Reference<T>(this IGrainFactory factory, string key)
        where T : IGrainWithStringKey
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(key);
        var types = Types.GetOrCreateValue(factory);
        if (!types.TryGetValue(typeof(T), out var found))
        {
            // The first reference is Orleans' own, and says which types it resolved. A factory that makes something else
            // (a test's stand-in) is asked every time.
            var first = factory.GetGrain<T>(key);
            if (first is GrainReference reference)
            {
                types.TryAdd(typeof(T), (reference.GrainId.Type, reference.InterfaceType));
            }

            return first;
        }

        return (T)factory.GetGrain(GrainId.Create(found.Grain, IdSpan.Create(key)), found.Interface);
    }
}
