using Coordination.Process.Tests.Infrastructure;
using Coordination.TestKit;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;

// One cluster and one browser for every test here, one test at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Coordination.Browser.Tests;

/// <summary>
/// One local cluster of real silo processes with the HTTP token and operator actions on, and one headless Chromium
/// (driven through chromedriver) that presents the token on every request, shared by every page test: starting them
/// is most of the run. Without chromium or chromedriver nothing starts, and each test skips (or fails under
/// COORD_REQUIRE_ALL=1) with the reason.
/// </summary>
public sealed class PageSession : IAsyncLifetime
{
    public const string Token = "browser-test-token-0123456789";

    private static readonly string[] Browsers = ["chromium", "chromium-browser", "google-chrome"];
    private const string Install = "apt-get install chromium chromium-driver";

    private LocalClusterProcess? _cluster;
    private ChromeDriver? _driver;

    public LocalClusterProcess Cluster => Require(_cluster);

    public ChromeDriver Driver => Require(_driver);

    /// <summary>Where screenshots go: TestResults/screenshots under the test output directory (kept as CI artifacts).</summary>
    public static string Screenshots { get; } = Path.Combine(AppContext.BaseDirectory, "TestResults", "screenshots");

    public async Task InitializeAsync()
    {
        var browser = Browsers.Select(Prerequisites.Find).FirstOrDefault(p => p is not null);
        var driver = Prerequisites.Find("chromedriver");
        if (browser is null || driver is null)
        {
            return;
        }

        _cluster = await LocalClusterProcess.StartAsync($"--Coordination:Host:HttpToken={Token}", "--Coordination:Host:OperatorActions=true");
        await _cluster.WaitAllReadyAsync(TimeSpan.FromSeconds(90));
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(driver)!, Path.GetFileName(driver));
        service.HideCommandPromptWindow = true;
        var options = new ChromeOptions { BinaryLocation = browser };
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,2400");
        _driver = new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
        // The page's own fetches carry the token too: a browser would ask once (Basic) and keep it for the origin.
        _driver.ExecuteCdpCommand("Network.enable", []);
        _driver.ExecuteCdpCommand("Network.setExtraHTTPHeaders", new Dictionary<string, object?> { ["headers"] = new Dictionary<string, object> { ["Authorization"] = $"Bearer {Token}" } });
        Directory.CreateDirectory(Screenshots);
    }

    public async Task DisposeAsync()
    {
        _driver?.Quit();
        _driver?.Dispose();
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }

    /// <summary>Opens the page the launcher serves and waits for its first complete refresh.</summary>
    public void OpenPage()
    {
        Driver.Navigate().GoToUrl(Cluster.Dashboard("/"));
        Until(d => d.FindElement(By.Id("updated")).Text.StartsWith("updated", StringComparison.Ordinal) && d.FindElements(By.CssSelector("#processes tr[data-silo]")).Count == Cluster.Silos, TimeSpan.FromSeconds(20), "the page's first refresh, with every silo process listed");
    }

    /// <summary>Waits (Selenium's own wait) for a condition of the page; the page re-renders its tables as it polls, so a vanished element is retried.</summary>
    public T Until<T>(Func<IWebDriver, T> condition, TimeSpan timeout, string expectation)
    {
        var wait = new WebDriverWait(Driver, timeout) { Message = $"waited {timeout.TotalSeconds:0} s for {expectation}", PollingInterval = TimeSpan.FromMilliseconds(200) };
        wait.IgnoreExceptionTypes(typeof(NoSuchElementException), typeof(StaleElementReferenceException));
        return wait.Until(condition);
    }

    /// <summary>Saves the browser's view as TestResults/screenshots/<paramref name="name"/>.png.</summary>
    public string Screenshot(string name)
    {
        var path = Path.Combine(Screenshots, $"{name}.png");
        Driver.GetScreenshot().SaveAsFile(path);
        return path;
    }

    private T Require<T>(T? started)
        where T : class
    {
        if (started is not null)
        {
            return started;
        }

        if (!Browsers.Any(b => Prerequisites.Find(b) is not null))
        {
            Prerequisites.Require(Browsers[0], Install);
        }

        Prerequisites.Require("chromedriver", Install);
        throw new InvalidOperationException("The page session did not start; see the fixture's failure above.");
    }
}

[CollectionDefinition(Name)]
public sealed class PageCollection : ICollectionFixture<PageSession>
{
    public const string Name = "the coordination page in one browser against one local cluster";
}
