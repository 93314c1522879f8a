using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Coordination.Tests;

/// <summary>
/// The client sends all of a process's grain calls through one gateway (one Orleans client bucket), so the session
/// and the locks a process uses are placed on one silo; an application that chose its own bucket count keeps it.
/// </summary>
public sealed class ClientGatewayBucketsTests
{
    [Fact]
    public void The_client_uses_one_bucket_for_its_grain_calls()
    {
        var services = new ServiceCollection();
        services.AddCoordinationClient();

        using var provider = services.BuildServiceProvider();
        Assert.Equal(1, provider.GetRequiredService<IOptions<ClientMessagingOptions>>().Value.ClientSenderBuckets);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_bucket_count_the_application_chose_is_kept_whichever_is_registered_first(bool applicationFirst)
    {
        var services = new ServiceCollection();
        if (applicationFirst)
        {
            services.Configure<ClientMessagingOptions>(o => o.ClientSenderBuckets = 64);
        }

        services.AddCoordinationClient();
        if (!applicationFirst)
        {
            services.Configure<ClientMessagingOptions>(o => o.ClientSenderBuckets = 64);
        }

        using var provider = services.BuildServiceProvider();
        Assert.Equal(64, provider.GetRequiredService<IOptions<ClientMessagingOptions>>().Value.ClientSenderBuckets);
    }
}
