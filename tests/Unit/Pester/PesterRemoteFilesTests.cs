using JP1Dist.Contracts;
using JP1Dist.Tests.Host;
using Xunit;
using Xunit.Abstractions;

namespace JP1Dist.Tests.Pester;

/// <summary>
/// Runs each tests/Pester/*.Tests.ps1 file a second time in remote mode: against a real HTTPS `jp1dist manager` process on
/// 127.0.0.1, every cmdlet going through its admin API, while the session's own data folder stays empty. One test case per file.
/// </summary>
/// <remarks>
/// One manager per file, not one for the run: the files assume a manager of their own (they count hosts, packages, keys and
/// audit entries from an empty start, and name hosts and jobs alike), and so do the files when run locally, where each has its
/// own data folder. Sharing one would make a file pass or fail by what ran before it. A manager starts in about two seconds,
/// little beside the files' own minutes.
/// </remarks>
public sealed class PesterRemoteFilesTests(ITestOutputHelper output)
{
    /// <summary>The access key's name, which the manager's audit log shows for every change the file makes.</summary>
    private const string KeyName = "pester-remote";

    /// <summary>The files of <see cref="PesterFilesTests.Files"/> that use the product (through TestSupport.ps1); PesterShim.Tests.ps1 tests the runner.</summary>
    public static TheoryData<string> Files
    {
        get
        {
            var data = new TheoryData<string>();
            foreach (var file in Directory.GetFiles(PesterFilesTests.PesterDirectory, "*.Tests.ps1").Order(StringComparer.Ordinal))
            {
                if (File.ReadAllText(file).Contains("TestSupport.ps1", StringComparison.Ordinal))
                {
                    data.Add(Path.GetFileName(file));
                }
            }

            return data;
        }
    }

    /// <summary>
    /// Starts a manager on a scratch data folder, makes an Administrator key, and runs one Pester file connected to it
    /// (tests/Pester/TestSupport.ps1 calls Connect-DistManager with the JP1DIST_TEST_* variables); the session's
    /// JP1DIST_HOME must still be empty at the end.
    /// </summary>
    [SkippableTheory]
    [MemberData(nameof(Files))]
    public async Task PesterFileRemote(string file)
    {
        var manager = new HttpsManagerFixture();
        await manager.InitializeAsync();
        var session = Path.Combine(manager.Root, "session-home");
        Directory.CreateDirectory(session);
        try
        {
            var key = await manager.Engine.AccessKeys.CreateAsync(new NewAccessKeyRequest(KeyName, DistRole.Administrator));
            var environment = new Dictionary<string, string>
            {
                ["JP1DIST_TEST_MANAGER_URI"] = manager.Url,
                ["JP1DIST_TEST_ACCESS_KEY"] = key.Key!,
                ["JP1DIST_TEST_CERTIFICATE_PIN"] = manager.Pin,
                // For the few checks of what the manager keeps on its disk (its certificate, a key file); same computer here.
                ["JP1DIST_TEST_MANAGER_HOME"] = Path.Combine(manager.Root, "home"),
            };
            await PesterFilesTests.RunFileAsync(output, file, session, Path.Combine(manager.Root, "pester-result.json"), environment);
            Assert.Empty(Directory.GetFileSystemEntries(session));
        }
        finally
        {
            await manager.DisposeAsync();
        }
    }
}
