using System.Runtime.CompilerServices;
using Coordination.Client;

namespace Coordination.Tests;

/// <summary>
/// Which of the service's errors a caller may retry: exactly the two outage errors say <see cref="CoordinationException.IsTransient"/>,
/// and the client library retries exactly those of its own errors (beside Orleans' runtime errors).
/// </summary>
public sealed class ErrorClassificationTests
{
    private static readonly Type[] Transient = [typeof(QuorumUnavailableException), typeof(ClusterUnavailableException)];

    public static TheoryData<Type> ServiceErrors()
    {
        var data = new TheoryData<Type>();
        foreach (var type in typeof(CoordinationException).Assembly.GetTypes().Where(t => typeof(CoordinationException).IsAssignableFrom(t) && !t.IsAbstract))
        {
            data.Add(type);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(ServiceErrors))]
    public void Only_the_outage_errors_are_transient_and_the_client_retries_exactly_those(Type type)
    {
        // The property depends on the type alone, so an instance without its constructor's arguments will do.
        var error = (CoordinationException)RuntimeHelpers.GetUninitializedObject(type);

        Assert.Equal(Transient.Contains(type), error.IsTransient);
        Assert.Equal(error.IsTransient, Retry.IsTransient(error));
    }

    [Fact]
    public void The_typed_outage_errors_are_transient_as_thrown()
    {
        Assert.True(new QuorumUnavailableException("l/x", 1, 2, "test").IsTransient);
        Assert.True(new ClusterUnavailableException("acquire", TimeSpan.FromSeconds(5)).IsTransient);
        Assert.False(new SessionExpiredException("abc", "test").IsTransient);
        Assert.False(new OutcomeUnknownException("n/x", Guid.NewGuid(), "test").IsTransient);
    }
}
