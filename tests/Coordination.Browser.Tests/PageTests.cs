using System.Globalization;
using Coordination.TestKit;
using OpenQA.Selenium;
using Xunit.Abstractions;

namespace Coordination.Browser.Tests;

/// <summary>The coordination page in headless Chromium, against the launcher of a real local cluster.</summary>
[Collection(PageCollection.Name)]
public sealed class PageTests(PageSession session, ITestOutputHelper output)
{
    private static readonly TimeSpan Quick = TimeSpan.FromSeconds(15);

    [SkippableFact]
    public void The_page_loads_with_every_silo_ready_and_every_section()
    {
        session.OpenPage();
        session.Until(d => d.FindElements(By.CssSelector("#processes tr[data-state='ready']")).Count == session.Cluster.Silos, TimeSpan.FromSeconds(30), "every silo shown ready");
        session.Until(d => d.FindElements(By.CssSelector("#probes tr[data-status='Alive']")).Count >= session.Cluster.Silos * (session.Cluster.Silos - 1), Quick, "each silo's probe view with the others alive");
        session.Until(d => d.FindElements(By.CssSelector("#partitions tr[data-partition]")).Count == 16, Quick, "the 16 partitions");
        session.Until(d => d.FindElements(By.CssSelector("#chart-grants polyline")).Count == 1, Quick, "the grants chart drawn");
        Assert.Equal("Coordination local cluster", session.Driver.FindElement(By.Id("title")).Text);
        Assert.Contains("operator actions on", session.Driver.FindElement(By.Id("served-by")).Text, StringComparison.Ordinal);
        output.WriteLine(session.Screenshot("page-loads"));
    }

    [SkippableFact]
    public async Task A_lock_taken_by_a_client_appears_with_its_fencing_token_and_disappears_when_released()
    {
        session.OpenPage();
        await using var client = await TestClusterClient.ConnectAsync(session.Cluster);
        var prefix = $"page/{Guid.NewGuid():N}/";
        var name = $"{prefix}orders";
        var handle = await client.Coordination.CreateLock(name).AcquireAsync(TimeSpan.FromSeconds(30));
        Search(prefix);

        var token = session.Until(d => d.FindElement(By.CssSelector($"#locks tr[data-lock='{name}'] td[data-field='token']")).Text is { Length: > 0 } t ? t : null, Quick, $"{name} listed with a token");
        Assert.Equal(handle.FencingToken.ToString(System.Globalization.CultureInfo.InvariantCulture), token);
        session.Until(d => d.FindElements(By.CssSelector("#sessions tr[data-session]")).Count > 0, Quick, "the holder's session listed");
        output.WriteLine(session.Screenshot("lock-held"));

        await handle.DisposeAsync();
        session.Until(d => d.FindElements(By.CssSelector($"#locks tr[data-lock='{name}']")).Count == 0, Quick, $"{name} gone from the page once released");
    }

    [SkippableFact]
    public async Task A_killed_silo_shows_dead_then_its_replacement_joins()
    {
        session.OpenPage();
        const string Victim = "silo1";
        var pid = session.Until(d => d.FindElement(By.CssSelector($"#processes tr[data-silo='{Victim}'][data-state='ready'] td.num")).Text, Quick, $"{Victim} ready with a pid");
        var restarts = int.Parse(session.Driver.FindElement(By.CssSelector($"#processes tr[data-silo='{Victim}'] td[data-field='restarts']")).Text, System.Globalization.CultureInfo.InvariantCulture);
        var port = $":{session.Cluster.SiloPortBase + 1}@";
        var old = session.Until(d => d.FindElements(By.CssSelector("#probes tr[data-viewer='silo0'][data-status='Alive']")).Select(r => r.GetAttribute("data-member")).FirstOrDefault(m => m!.Contains(port, StringComparison.Ordinal)), Quick, $"{Victim} alive in silo0's view");

        Signals.Send(int.Parse(pid, System.Globalization.CultureInfo.InvariantCulture), Signals.Kill);
        session.Until(d => d.FindElements(By.CssSelector($"#probes tr[data-member='{old}'][data-status='Dead']")).Count > 0, TimeSpan.FromSeconds(30), $"{Victim} ({old}) declared dead in another silo's view");
        output.WriteLine(session.Screenshot("silo-dead"));

        session.Until(
            d => d.FindElement(By.CssSelector($"#processes tr[data-silo='{Victim}'] td[data-field='restarts']")).Text == $"{restarts + 1}"
                && d.FindElements(By.CssSelector($"#processes tr[data-silo='{Victim}'][data-state='ready']")).Count == 1
                && d.FindElements(By.CssSelector("#probes tr[data-viewer='silo0'][data-status='Alive']")).Any(r => r.GetAttribute("data-member") is { } m && m.Contains(port, StringComparison.Ordinal) && m != old),
            TimeSpan.FromSeconds(90),
            $"{Victim} restarted by the launcher, ready, and its new incarnation alive in silo0's view");
        output.WriteLine(session.Screenshot("silo-replaced"));
        await session.Cluster.WaitAllReadyAsync(TimeSpan.FromSeconds(60));
    }

    [SkippableFact]
    public async Task An_operator_revokes_a_lock_through_the_confirmation_and_the_audit_trail_records_it()
    {
        session.OpenPage();
        await using var client = await TestClusterClient.ConnectAsync(session.Cluster);
        var name = $"page/{Guid.NewGuid():N}/stuck-job";
        var handle = await client.Coordination.CreateLock(name).AcquireAsync(TimeSpan.FromSeconds(30));
        var lost = new TaskCompletionSource();
        using var _ = handle.HandleLostToken.Register(() => lost.TrySetResult());
        Search(name);

        var dialog = OpenRevoke($"#locks tr[data-lock='{name}']", name);
        var confirm = dialog.FindElement(By.Id("confirm-ok"));
        dialog.FindElement(By.Id("confirm-operator")).SendKeys("alice");
        dialog.FindElement(By.Id("confirm-reason")).SendKeys("stuck job holds the lock");
        dialog.FindElement(By.Id("confirm-typed")).SendKeys(name[..^1]);
        Assert.False(confirm.Enabled, "confirm is enabled before the name is typed in full");
        dialog.FindElement(By.Id("confirm-typed")).SendKeys(name[^1..]);
        Assert.True(confirm.Enabled, "confirm stays disabled with the name typed in full");
        output.WriteLine(session.Screenshot("revoke-confirm"));
        confirm.Click();

        await lost.Task.WaitAsync(TimeSpan.FromSeconds(20));
        session.Until(d => !d.FindElement(By.Id("confirm")).Displayed, Quick, "the dialog closed after the revoke");
        session.Until(d => d.FindElements(By.CssSelector("#audit tbody tr")).Any(r => r.Text.Contains("alice", StringComparison.Ordinal) && r.Text.Contains("stuck job holds the lock", StringComparison.Ordinal) && r.Text.Contains(name, StringComparison.Ordinal)), Quick, "the revoke in the audit trail with its operator and reason");
        output.WriteLine(session.Screenshot("revoke-audited"));
    }

    [SkippableFact]
    public async Task Semaphores_and_reader_writer_locks_show_their_holders_and_an_operator_revokes_every_grant_of_each()
    {
        session.OpenPage();
        await using var client = await TestClusterClient.ConnectAsync(session.Cluster);
        var prefix = $"page/{Guid.NewGuid():N}/";
        var (semaphore, readerWriter) = ($"{prefix}renderers", $"{prefix}catalog");
        await using var first = await client.Coordination.CreateSemaphore(semaphore, 3).AcquireAsync(TimeSpan.FromSeconds(30));
        await using var second = await client.Coordination.CreateSemaphore(semaphore, 3).AcquireAsync(TimeSpan.FromSeconds(30));
        await using var reader1 = await client.Coordination.CreateReaderWriterLock(readerWriter).AcquireReadLockAsync(TimeSpan.FromSeconds(30));
        await using var reader2 = await client.Coordination.CreateReaderWriterLock(readerWriter).AcquireReadLockAsync(TimeSpan.FromSeconds(30));
        var lost = new[] { first.HandleLostToken, second.HandleLostToken }.Select(Fired).ToArray();
        Search(prefix);

        session.Until(d => d.FindElement(By.CssSelector($"#semaphores tr[data-semaphore='{semaphore}'] td[data-field='permits']")).Text == "2/3", Quick, $"{semaphore} listed with 2 of 3 permits held");
        session.Until(d => d.FindElement(By.CssSelector($"#rwlocks tr[data-rwlock='{readerWriter}'] td[data-field='held-by']")).Text == "2 readers", Quick, $"{readerWriter} listed as held by 2 readers");
        var row = session.Driver.FindElement(By.CssSelector($"#semaphores tr[data-semaphore='{semaphore}']")).Text;
        Assert.Contains($"#{first.FencingToken}", row, StringComparison.Ordinal);
        Assert.Contains($"#{second.FencingToken}", row, StringComparison.Ordinal);
        output.WriteLine(session.Screenshot("shared-locks"));

        var dialog = OpenRevoke($"#semaphores tr[data-semaphore='{semaphore}']", semaphore);
        Confirm(dialog, "bob", "renderers stuck", semaphore);

        await Task.WhenAll(lost).WaitAsync(TimeSpan.FromSeconds(20));
        session.Until(d => d.FindElements(By.CssSelector("#audit tbody tr")).Any(r => r.Text.Contains("bob", StringComparison.Ordinal) && r.Text.Contains("renderers stuck", StringComparison.Ordinal) && r.Text.Contains(semaphore, StringComparison.Ordinal)), Quick, "the semaphore's revoke in the audit trail");
        Assert.False(reader1.HandleLostToken.IsCancellationRequested, "a reader of another name lost its lock");

        var readersLost = new[] { reader1.HandleLostToken, reader2.HandleLostToken }.Select(Fired).ToArray();
        var rwDialog = OpenRevoke($"#rwlocks tr[data-rwlock='{readerWriter}']", readerWriter);
        Confirm(rwDialog, "bob", "catalog rebuild", readerWriter);
        await Task.WhenAll(readersLost).WaitAsync(TimeSpan.FromSeconds(20));
        session.Until(d => d.FindElements(By.CssSelector("#audit tbody tr")).Any(r => r.Text.Contains("catalog rebuild", StringComparison.Ordinal) && r.Text.Contains(readerWriter, StringComparison.Ordinal)), Quick, "the reader-writer lock's revoke in the audit trail");
    }

    [SkippableFact]
    public async Task An_operator_revokes_a_session_from_the_sessions_table_and_its_lock_is_lost()
    {
        session.OpenPage();
        await using var client = await TestClusterClient.ConnectAsync(session.Cluster);
        var name = $"page/{Guid.NewGuid():N}/worker";
        var handle = await client.Coordination.CreateLock(name).AcquireAsync(TimeSpan.FromSeconds(30));
        var lost = Fired(handle.HandleLostToken);
        var tag = (await client.Coordination.CreateLock(name).GetInfoAsync()).Holder!.SessionTag;

        var dialog = OpenRevoke($"#sessions tr[data-session='{tag}']", tag);
        Confirm(dialog, "carol", "worker hung", tag);

        await lost.WaitAsync(TimeSpan.FromSeconds(20));
        session.Until(d => d.FindElement(By.CssSelector($"#sessions tr[data-session='{tag}'] td[data-field='status']")).Text.Contains("revoked: worker hung", StringComparison.Ordinal), Quick, "the session shown revoked with its reason");
        session.Until(d => d.FindElements(By.CssSelector("#audit tbody tr")).Any(r => r.Text.Contains("carol", StringComparison.Ordinal) && r.Text.Contains($"revoke-session {tag}", StringComparison.Ordinal)), Quick, "the session's revoke in the audit trail");
        output.WriteLine(session.Screenshot("session-revoked"));
    }

    [SkippableFact]
    public async Task Values_counters_and_latches_appear_in_their_tables_under_the_prefix_and_a_value_shows_as_text_not_markup()
    {
        session.OpenPage();
        await using var client = await TestClusterClient.ConnectAsync(session.Cluster);
        var prefix = $"page/{Guid.NewGuid():N}/";
        var (markup, announced, lengthy, counter, latch) = ($"{prefix}banner", $"{prefix}instance", $"{prefix}manifest", $"{prefix}orders", $"{prefix}batch");
        var persistent = await client.Coordination.CreateValue(markup).SetAsync("<b>x</b>");
        var ephemeral = await client.Coordination.CreateValue(announced).SetEphemeralAsync("10.0.0.7:8080");
        var tag = ephemeral.Current.SessionTag;
        Assert.True(ephemeral.Succeeded, $"the ephemeral value was not set: {ephemeral}");
        Assert.NotNull(tag);
        var manifest = string.Concat(Enumerable.Repeat("0123456789", 20));
        await client.Coordination.CreateValue(lengthy).SetAsync(manifest);
        Assert.Equal(42, await client.Coordination.CreateAtomicLong(counter).AddAsync(42));
        Assert.Equal(1, (await client.Coordination.CreateLatch(latch, 2).CountDownAsync()).Count);
        Search(prefix);

        var value = session.Until(d => Cells(d, $"#values tr[data-value='{markup}']"), Quick, $"{markup} listed in the values");
        Assert.Equal([markup, "<b>x</b>", persistent.Revision.ToString(CultureInfo.InvariantCulture), "persistent"], value);
        var (title, bold, html) = session.Until(
            d =>
            {
                var cell = d.FindElement(By.CssSelector($"#values tr[data-value='{markup}'] td[data-field='value']"));
                // A reference type: Selenium waits only on objects.
                return Tuple.Create(cell.GetDomAttribute("title"), cell.FindElements(By.TagName("b")).Count, cell.GetDomProperty("innerHTML"));
            },
            Quick,
            $"{markup}'s value cell");
        Assert.Equal("<b>x</b>", title);
        Assert.True(bold == 0 && html == "&lt;b&gt;x&lt;/b&gt;", $"the value was rendered as markup: {html}");

        var bound = session.Until(d => Cells(d, $"#values tr[data-value='{announced}']"), Quick, $"{announced} listed in the values");
        Assert.Equal([announced, "10.0.0.7:8080", ephemeral.Current.Revision.ToString(CultureInfo.InvariantCulture), tag], bound);
        var (shortened, full) = session.Until(
            d =>
            {
                var cell = d.FindElement(By.CssSelector($"#values tr[data-value='{lengthy}'] td[data-field='value']"));
                return Tuple.Create(cell.Text, cell.GetDomAttribute("title"));
            },
            Quick,
            $"{lengthy}'s value cell");
        Assert.True(shortened.Length < manifest.Length && shortened.EndsWith('…') && manifest.StartsWith(shortened[..^1], StringComparison.Ordinal), $"the long value was not cut short: {shortened}");
        Assert.Equal(manifest, full);

        var counted = session.Until(d => Cells(d, $"#counters tr[data-counter='{counter}']"), Quick, $"{counter} listed in the counters");
        Assert.True(counted.Count == 3 && counted[0] == counter && counted[1] == "42" && long.TryParse(counted[2], CultureInfo.InvariantCulture, out var revision) && revision > 0, $"the counter's row: {string.Join(" | ", counted)}");
        var latched = session.Until(d => Cells(d, $"#latches tr[data-latch='{latch}']"), Quick, $"{latch} listed in the latches");
        Assert.Equal([latch, "1 of 2"], latched);
        Assert.Equal("page 1 (last)", session.Driver.FindElement(By.Id("values-note")).Text);
        output.WriteLine(session.Screenshot("values-counters-latches"));
    }

    /// <summary>The texts of a row's cells, read in one step: the table re-renders as the page polls, and a row found just before a refresh is stale.</summary>
    private static List<string> Cells(IWebDriver driver, string row) =>
        [.. driver.FindElement(By.CssSelector(row)).FindElements(By.TagName("td")).Select(c => c.Text)];

    private static Task Fired(CancellationToken token)
    {
        var fired = new TaskCompletionSource();
        token.Register(() => fired.TrySetResult());
        return fired.Task;
    }

    /// <summary>Clicks the revoke button of the row and returns the confirmation dialog it opened.</summary>
    private IWebElement OpenRevoke(string row, string name)
    {
        // Found and clicked in one step: the table refreshes on its own, and a row found just before a refresh is stale.
        session.Until(
            d =>
            {
                d.FindElement(By.CssSelector($"{row} button.revoke")).Click();
                return true;
            },
            Quick,
            $"a revoke button for {name}, clicked");
        return session.Until(d => d.FindElement(By.Id("confirm")) is { Displayed: true } e ? e : null, Quick, "the confirmation dialog")!;
    }

    /// <summary>Fills the confirmation dialog in full and confirms.</summary>
    private static void Confirm(IWebElement dialog, string operatorName, string reason, string typed)
    {
        dialog.FindElement(By.Id("confirm-operator")).SendKeys(operatorName);
        dialog.FindElement(By.Id("confirm-reason")).SendKeys(reason);
        dialog.FindElement(By.Id("confirm-typed")).SendKeys(typed);
        dialog.FindElement(By.Id("confirm-ok")).Click();
    }

    private void Search(string prefix)
    {
        var box = session.Driver.FindElement(By.Id("prefix"));
        box.Clear();
        box.SendKeys(prefix + Keys.Enter);
    }
}
