using Coordination.Membership.Protocol;
using Microsoft.Extensions.Logging;
using Orleans.Concurrency;
using Orleans.Runtime.Services;
using Orleans.Services;

namespace Coordination.Membership.Hosting;

/// <summary>The probe endpoint every silo runs: messages arrive one way, like datagrams (a lost one is just lost).</summary>
[Alias("coord.IProbeService")]
internal interface IProbeService : IGrainService
{
    [OneWay]
    [Alias("deliver")]
    Task Deliver(ProbeMessage message);
}

/// <summary>Decides whether probe traffic between two silos gets through. Registered only by fault-injection tests.</summary>
public interface IProbeTrafficFilter
{
    bool Allows(string fromSilo, string toSilo);
}

[Reentrant]
internal sealed class ProbeGrainService : GrainService, IProbeService
{
    private readonly ProbeHost _host;

    public ProbeGrainService(GrainId id, Silo silo, ILoggerFactory loggerFactory, ProbeHost host)
        : base(id, silo, loggerFactory)
    {
        _host = host;
    }

    public Task Deliver(ProbeMessage message)
    {
        _host.Receive(message);
        return Task.CompletedTask;
    }
}

/// <summary>Sends probe messages to the probe service of the target silo, one way, never waiting for it.</summary>
internal sealed class OrleansProbeTransport : GrainServiceClient<IProbeService>
{
    private readonly string _self;
    private readonly IProbeTrafficFilter? _filter;

    public OrleansProbeTransport(IServiceProvider services, ILocalSiloDetails silo, IProbeTrafficFilter? filter = null)
        : base(services)
    {
        _self = silo.SiloAddress.ToParsableString();
        _filter = filter;
    }

    public void Send(Outgoing outgoing)
    {
        if (_filter is not null && (!_filter.Allows(_self, outgoing.To.Value) || !_filter.Allows(outgoing.To.Value, _self)))
        {
            return;
        }

        try
        {
            _ = GetGrainService(SiloAddress.FromParsableString(outgoing.To.Value)).Deliver(outgoing.Message);
        }
        catch (Exception)
        {
            // A datagram that could not be sent is a lost datagram; the protocol copes with loss.
        }
    }
}
