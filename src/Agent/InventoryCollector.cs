using System.Diagnostics;
using System.Net.NetworkInformation;
using JP1Dist.Protocol;

namespace JP1Dist.Agent;

/// <summary>
/// Reads the computer's hardware facts and the operating system's own software list: dpkg's status file on
/// Debian and Ubuntu, rpm where it exists, the Uninstall registry keys on Windows. Software JP1Dist installed
/// is recorded by the manager from the job results, not here.
/// </summary>
public static class InventoryCollector
{
    private const string DpkgStatus = "/var/lib/dpkg/status";

    /// <summary>Everything but the basic facts that registration carries anyway.</summary>
    public static HostInventory Collect() => new(
        Environment.ProcessorCount,
        GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1024 * 1024),
        Volumes(),
        MacAddresses(),
        Software(),
        Networks());

    /// <summary>
    /// The IPv4 network of every interface that is up, as address/prefix ("192.168.10.23/24"): the manager wakes the host
    /// with a broadcast to the first one.
    /// </summary>
    public static IReadOnlyList<string> Networks()
    {
        try
        {
            return NetworkInterface.GetAllNetworkInterfaces()
                .Where(n => n.OperationalStatus == OperationalStatus.Up && n.NetworkInterfaceType != NetworkInterfaceType.Loopback)
                .SelectMany(n => n.GetIPProperties().UnicastAddresses)
                .Where(a => a.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && a.PrefixLength is > 0 and <= 32)
                .Select(a => $"{a.Address}/{a.PrefixLength.ToString(System.Globalization.CultureInfo.InvariantCulture)}")
                .Distinct().ToList();
        }
        catch (Exception e) when (e is NetworkInformationException or PlatformNotSupportedException)
        {
            return [];
        }
    }

    /// <summary>Fixed volumes with their size and free space.</summary>
    public static IReadOnlyList<VolumeFact> Volumes()
    {
        var volumes = new List<VolumeFact>();
        foreach (var drive in DriveInfo.GetDrives())
        {
            try
            {
                if (drive.DriveType == DriveType.Fixed && drive.IsReady && drive.TotalSize > 0)
                {
                    volumes.Add(new VolumeFact(drive.Name, drive.TotalSize / (1024 * 1024), drive.AvailableFreeSpace / (1024 * 1024)));
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // A volume that cannot be read is left out.
            }
        }
        return volumes.DistinctBy(v => v.Name).OrderBy(v => v.Name, StringComparer.Ordinal).ToList();
    }

    /// <summary>The MAC address of every non-loopback interface, as 00-11-22-33-44-55.</summary>
    public static IReadOnlyList<string> MacAddresses()
    {
        try
        {
            return NetworkInterface.GetAllNetworkInterfaces()
                .Where(n => n.NetworkInterfaceType != NetworkInterfaceType.Loopback)
                .Select(n => n.GetPhysicalAddress().GetAddressBytes())
                .Where(b => b.Length == 6 && b.Any(x => x != 0))
                .Select(b => string.Join("-", b.Select(x => x.ToString("X2", System.Globalization.CultureInfo.InvariantCulture))))
                .Distinct().Order(StringComparer.Ordinal).ToList();
        }
        catch (NetworkInformationException)
        {
            return [];
        }
    }

    /// <summary>The operating system's package list, or an empty list where there is none.</summary>
    public static IReadOnlyList<SoftwareFact> Software()
    {
        if (OperatingSystem.IsWindows())
        {
            return WindowsUninstallKeys();
        }
        if (File.Exists(DpkgStatus))
        {
            return ParseDpkgStatus(File.ReadAllText(DpkgStatus));
        }
        return RpmPackages();
    }

    /// <summary>Installed packages from dpkg's status file: stanzas whose Status is "install ok installed".</summary>
    public static IReadOnlyList<SoftwareFact> ParseDpkgStatus(string text)
    {
        var result = new List<SoftwareFact>();
        foreach (var stanza in text.Replace("\r\n", "\n", StringComparison.Ordinal).Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            string? name = null, version = null, status = null;
            foreach (var line in stanza.Split('\n'))
            {
                if (line.StartsWith("Package:", StringComparison.Ordinal))
                {
                    name = line[8..].Trim();
                }
                else if (line.StartsWith("Version:", StringComparison.Ordinal))
                {
                    version = line[8..].Trim();
                }
                else if (line.StartsWith("Status:", StringComparison.Ordinal))
                {
                    status = line[7..].Trim();
                }
            }
            if (name is not null && status is not null && status.EndsWith(" installed", StringComparison.Ordinal))
            {
                result.Add(new SoftwareFact(name, version ?? "", "dpkg"));
            }
        }
        return result;
    }

    /// <summary>Installed packages from `rpm -qa` (name and version-release); <paramref name="executable"/> is rpm's path, found when null.</summary>
    internal static List<SoftwareFact> RpmPackages(string? executable = null)
    {
        var rpm = executable ?? new[] { "/usr/bin/rpm", "/bin/rpm" }.FirstOrDefault(File.Exists);
        if (rpm is null)
        {
            return [];
        }
        try
        {
            var start = new ProcessStartInfo(rpm) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var argument in new[] { "-qa", "--queryformat", "%{NAME}\t%{VERSION}-%{RELEASE}\n" })
            {
                start.ArgumentList.Add(argument);
            }
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEndAsync();
            if (!process.WaitForExit(30_000))
            {
                process.Kill(true);
                return [];
            }
            return output.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(l => l.Split('\t'))
                .Where(p => p.Length == 2)
                .Select(p => new SoftwareFact(p[0], p[1], "rpm")).ToList();
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
        {
            return [];
        }
    }

    [System.Runtime.Versioning.SupportedOSPlatform("windows")]
    private static List<SoftwareFact> WindowsUninstallKeys()
    {
        var result = new List<SoftwareFact>();
        string[] paths = [@"SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall", @"SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall"];
        foreach (var root in new[] { Microsoft.Win32.Registry.LocalMachine, Microsoft.Win32.Registry.CurrentUser })
        {
            foreach (var path in paths)
            {
                using var key = root.OpenSubKey(path);
                if (key is null)
                {
                    continue;
                }
                foreach (var sub in key.GetSubKeyNames())
                {
                    using var entry = key.OpenSubKey(sub);
                    if (entry?.GetValue("DisplayName") is string name && !string.IsNullOrWhiteSpace(name) && entry.GetValue("SystemComponent") is not 1)
                    {
                        result.Add(new SoftwareFact(name.Trim(), entry.GetValue("DisplayVersion") as string ?? "", "Registry"));
                    }
                }
            }
        }
        return result;
    }
}
