using System.ComponentModel;
using System.Diagnostics;
using System.Runtime.InteropServices;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Conditions;

namespace JP1Dist.Agent;

/// <summary>
/// The agent's side of install conditions: the facts of this computer (memory, free disk, installed software from
/// dpkg, rpm, the Windows Uninstall keys, and what JP1Dist itself installed) and the external check program. The decision itself is
/// <see cref="ConditionEvaluator"/>, shared with the manager.
/// </summary>
public static class AgentConditions
{
    /// <summary>Where dpkg keeps what is installed.</summary>
    public static string DpkgStatusPath { get; set; } = "/var/lib/dpkg/status";

    /// <summary>Everything the agent can tell about this computer now.</summary>
    public static ConditionFacts Collect(AgentStateStore store) => new()
    {
        OS = HostFacts.OperatingSystemName(),
        OSVersion = Environment.OSVersion.Version.ToString(),
        Architecture = RuntimeInformation.OSArchitecture.ToString(),
        MemoryMB = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1024 * 1024),
        FreeDiskMB = FreeDiskMB,
        Software = Software(store),
    };

    /// <summary>Checks every condition, the check program last (it runs only when the rest hold).</summary>
    public static async Task<ConditionResult> CheckAsync(InstallConditions conditions, AgentStateStore store, string installPath, bool runCheckProgram, CancellationToken cancellationToken)
    {
        var result = ConditionEvaluator.Evaluate(conditions, Collect(store), installPath);
        if (!result.Met || !runCheckProgram || conditions.CheckCommand is null)
        {
            return result;
        }
        return await RunCheckAsync(conditions, installPath, cancellationToken);
    }

    /// <summary>Free MiB on the volume holding <paramref name="path"/> (or its nearest existing parent).</summary>
    public static long? FreeDiskMB(string path) => LocalFault.FreeSpace(path) / (1024 * 1024);

    /// <summary>Installed software by name: dpkg's status file, rpm where present, and what JP1Dist installed here.</summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<string>> Software(AgentStateStore store)
    {
        var found = new Dictionary<string, List<string>>(StringComparer.OrdinalIgnoreCase);
        void Add(string name, string version)
        {
            if (!found.TryGetValue(name, out var versions))
            {
                found[name] = versions = [];
            }
            if (!versions.Contains(version))
            {
                versions.Add(version);
            }
        }
        foreach (var (name, version) in ReadDpkgStatus(DpkgStatusPath))
        {
            Add(name, version);
        }
        foreach (var (name, version) in ReadRpm())
        {
            Add(name, version);
        }
        if (OperatingSystem.IsWindows())
        {
            foreach (var (name, version) in ReadWindowsUninstallKeys())
            {
                Add(name, version);
            }
        }
        foreach (var (name, version) in store.LoadInstalled())
        {
            Add(name, version);
        }
        return found.ToDictionary(p => p.Key, p => (IReadOnlyList<string>)p.Value, StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>Packages dpkg lists as "install ok installed", with their versions.</summary>
    public static IEnumerable<(string Name, string Version)> ReadDpkgStatus(string path)
    {
        if (!File.Exists(path))
        {
            yield break;
        }
        string? name = null, version = null, status = null;
        foreach (var line in File.ReadLines(path).Append(""))
        {
            if (line.Length == 0)
            {
                if (name is not null && version is not null && status is not null && status.EndsWith(" installed", StringComparison.Ordinal))
                {
                    yield return (name, version);
                }
                name = version = status = null;
            }
            else if (line.StartsWith("Package: ", StringComparison.Ordinal))
            {
                name = line[9..].Trim();
            }
            else if (line.StartsWith("Version: ", StringComparison.Ordinal))
            {
                version = line[9..].Trim();
            }
            else if (line.StartsWith("Status: ", StringComparison.Ordinal))
            {
                status = line[8..].Trim();
            }
        }
    }

    private static List<(string, string)> ReadRpm()
    {
        var list = new List<(string, string)>();
        if (OperatingSystem.IsWindows() || !Directory.Exists("/var/lib/rpm"))
        {
            return list;
        }
        try
        {
            var start = new ProcessStartInfo("rpm") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var argument in new[] { "-qa", "--qf", "%{NAME} %{VERSION}-%{RELEASE}\\n" })
            {
                start.ArgumentList.Add(argument);
            }
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEnd();
            if (!process.WaitForExit(30_000))
            {
                process.Kill(entireProcessTree: true);
                return list;
            }
            foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var space = line.IndexOf(' ');
                if (space > 0)
                {
                    list.Add((line[..space], line[(space + 1)..]));
                }
            }
        }
        catch (Win32Exception)
        {
            // rpm is not installed; its database folder alone tells nothing.
        }
        return list;
    }

    /// <summary>What Windows lists under Programs and Features: DisplayName and DisplayVersion of the Uninstall keys (64- and 32-bit views, machine and user).</summary>
    [System.Runtime.Versioning.SupportedOSPlatform("windows")]
    private static List<(string, string)> ReadWindowsUninstallKeys()
    {
        var list = new List<(string, string)>();
        const string uninstall = @"SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall";
        foreach (var (hive, view) in new[]
                 {
                     (Microsoft.Win32.RegistryHive.LocalMachine, Microsoft.Win32.RegistryView.Registry64),
                     (Microsoft.Win32.RegistryHive.LocalMachine, Microsoft.Win32.RegistryView.Registry32),
                     (Microsoft.Win32.RegistryHive.CurrentUser, Microsoft.Win32.RegistryView.Default),
                 })
        {
            try
            {
                using var root = Microsoft.Win32.RegistryKey.OpenBaseKey(hive, view);
                using var keys = root.OpenSubKey(uninstall);
                foreach (var name in keys?.GetSubKeyNames() ?? [])
                {
                    using var key = keys!.OpenSubKey(name);
                    if (key?.GetValue("DisplayName") is string display && display.Length > 0)
                    {
                        list.Add((display, key.GetValue("DisplayVersion") as string ?? ""));
                    }
                }
            }
            catch (Exception e) when (e is System.Security.SecurityException or UnauthorizedAccessException or IOException)
            {
                // A hive this account cannot read tells nothing.
            }
        }
        return list;
    }

    /// <summary>Runs the check program (an argument list, no shell); exit code 0 allows the install.</summary>
    private static async Task<ConditionResult> RunCheckAsync(InstallConditions conditions, string workingFolder, CancellationToken cancellationToken)
    {
        var command = conditions.CheckCommand!;
        var start = new ProcessStartInfo(command)
        {
            WorkingDirectory = Directory.Exists(workingFolder) ? workingFolder : Environment.CurrentDirectory,
        };
        foreach (var argument in conditions.CheckArguments ?? [])
        {
            start.ArgumentList.Add(argument);
        }
        var seconds = conditions.CheckTimeoutSeconds ?? 60;
        var ended = await ChildProcess.RunAsync(start, "the check program", TimeSpan.FromSeconds(seconds), onLine: null, cancellationToken);
        if (ended.StartFault is { } fault)
        {
            return ConditionResult.Fail("CheckCommand", $"Condition CheckCommand not met: {fault.Message}");
        }
        if (ended.TimedOut)
        {
            return ConditionResult.Fail("CheckCommand", $"Condition CheckCommand not met: '{command}' did not finish within {seconds} s.");
        }
        return ended.ExitCode == 0
            ? ConditionResult.Pass
            : ConditionResult.Fail("CheckCommand", $"Condition CheckCommand not met: '{command}' exited with code {ended.ExitCode}.");
    }
}
