using System.Text;
using Coordination.Silo.Configuration;
using Coordination.Silo.SiloHost;
using Microsoft.AspNetCore.Http;

namespace Coordination.Tests;

/// <summary>The HTTP surfaces stay on loopback unless a token guards them; the token is checked as bearer or Basic password; fault endpoints never leave loopback.</summary>
public sealed class HttpExposureTests
{
    private const string Token = "0123456789abcdef-secret";

    public static TheoryData<string, string, string?, bool, string?> Settings => new()
    {
        // listen address, HTTP address, token, fault injection, the failure (null: valid)
        { "127.0.0.1", "127.0.0.1", null, false, null },
        { "10.0.0.11", "127.0.0.1", null, false, null }, // silos and gateways off loopback, HTTP on it: no token needed
        { "127.0.0.1", "::1", null, false, null },
        { "127.0.0.1", "0.0.0.0", null, false, "Coordination:Host:HttpAddress is '0.0.0.0': the dashboard, coordination page, JSON API and health endpoints would be open to other machines without credentials. Set Coordination:Host:HttpToken" },
        { "127.0.0.1", "10.0.0.11", "", false, "Coordination:Host:HttpAddress is '10.0.0.11'" },
        { "127.0.0.1", "10.0.0.11", Token, false, null },
        { "127.0.0.1", "127.0.0.1", Token, false, null }, // a token on loopback is allowed
        { "127.0.0.1", "0.0.0.0", "short", false, "Coordination:Host:HttpToken is 5 characters: it must be at least 16" },
        { "127.0.0.1", "127.0.0.1", "has white space in it", false, "without white space" },
        { "127.0.0.1", "localhost", null, false, "Coordination:Host:HttpAddress is 'localhost': it must be an IP address" },
        { "127.0.0.1", "127.0.0.1", null, true, null },
        { "127.0.0.1", "0.0.0.0", Token, true, "Coordination:Host:FaultInjection is true with Coordination:Host:ListenAddress '127.0.0.1' and Coordination:Host:HttpAddress '0.0.0.0'" },
        { "10.0.0.11", "127.0.0.1", null, true, "the test-only fault endpoints (partitions, clock skew) run only on a host bound to loopback" },
    };

    [Theory]
    [MemberData(nameof(Settings))]
    public void Binding_off_loopback_needs_a_token_and_fault_injection_needs_loopback(string listen, string http, string? token, bool faults, string? failure)
    {
        var result = new SiloHostOptionsValidator().Validate(null, new SiloHostOptions { ListenAddress = listen, HttpAddress = http, HttpToken = token, FaultInjection = faults });
        if (failure is null)
        {
            Assert.True(result.Succeeded, result.FailureMessage);
        }
        else
        {
            Assert.True(result.Failed, $"{listen}/{http}/{token}/{faults} was accepted");
            Assert.Contains(failure, result.FailureMessage, StringComparison.Ordinal);
            Assert.DoesNotContain(Token, result.FailureMessage, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("127.0.0.1", null, false, null)]
    [InlineData("127.0.0.1", Token, true, null)]
    [InlineData("10.0.0.11", Token, true, null)]
    [InlineData("127.0.0.1", null, true, "Coordination:Host:OperatorActions is true without Coordination:Host:HttpToken: operator actions (revoke a lock, re-initialise a partition) need credentials even on loopback")]
    [InlineData("::1", "", true, "Coordination:Host:OperatorActions is true without Coordination:Host:HttpToken")]
    public void Operator_actions_need_the_token_even_on_loopback(string http, string? token, bool operatorActions, string? failure)
    {
        var result = new SiloHostOptionsValidator().Validate(null, new SiloHostOptions { HttpAddress = http, HttpToken = token, OperatorActions = operatorActions });
        if (failure is null)
        {
            Assert.True(result.Succeeded, result.FailureMessage);
        }
        else
        {
            Assert.True(result.Failed, $"operator actions on {http} with token '{token}' were accepted");
            Assert.Contains(failure, result.FailureMessage, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("Bearer " + Token, true)]
    [InlineData("bearer " + Token, true)]
    [InlineData("Bearer " + Token + "x", false)]
    [InlineData("Bearer 0123456789abcdef", false)]
    [InlineData("Bearer", false)]
    [InlineData("", false)]
    [InlineData(null, false)]
    [InlineData("Digest " + Token, false)]
    [InlineData("Basic not-base64!", false)]
    public void The_token_is_accepted_as_a_bearer_token(string? header, bool accepted) =>
        Assert.Equal(accepted, HttpCredentials.Presents(header, Token));

    [Theory]
    [InlineData("operator:" + Token, true)]
    [InlineData(":" + Token, true)]
    [InlineData("operator:wrong", false)]
    [InlineData(Token, false)] // no user name separator: not a Basic credential
    public void The_token_is_accepted_as_a_Basic_password_with_any_user_name(string credentials, bool accepted) =>
        Assert.Equal(accepted, HttpCredentials.Presents("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(credentials)), Token));

    [Theory]
    [InlineData("/health/live", true)]
    [InlineData("/health/ready", true)]
    [InlineData("/api/orleans-membership", true)]
    [InlineData("/api/metrics", false)]
    [InlineData("/api/faults/partition", false)]
    [InlineData("/api/coordination/partitions", false)]
    [InlineData("/dashboard", false)]
    [InlineData("/", false)]
    public void Only_health_and_the_gateway_list_are_open_without_the_token(string path, bool open) =>
        Assert.Equal(open, HttpCredentials.IsOpen(new PathString(path)));
}
