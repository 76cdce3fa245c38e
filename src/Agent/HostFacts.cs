using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using JP1Dist.Protocol;

namespace JP1Dist.Agent;

/// <summary>What an agent tells its higher system about the computer it runs on.</summary>
public static class HostFacts
{
    public static RegisterRequest Collect(string token, string name)
    {
        var facts = CollectFacts();
        return new RegisterRequest(token, name, facts.OS, facts.OSVersion, facts.Architecture, facts.Addresses, facts.MacAddress, facts.AgentVersion, facts.Inventory);
    }

    /// <summary>A registration with the basic facts only, no inventory: an agent that waits for approval asking again.</summary>
    public static RegisterRequest CollectBasic(string token, string name) =>
        new(token, name, OperatingSystemName(), Environment.OSVersion.Version.ToString(), RuntimeInformation.OSArchitecture.ToString(),
            Addresses(out var mac), mac, typeof(HostFacts).Assembly.GetName().Version?.ToString() ?? "0.0.0");

    /// <summary>Every fact the agent reports, with the hardware and software inventory.</summary>
    public static FactsReport CollectFacts() => new(
        OperatingSystemName(),
        Environment.OSVersion.Version.ToString(),
        RuntimeInformation.OSArchitecture.ToString(),
        Addresses(out var mac),
        mac,
        typeof(HostFacts).Assembly.GetName().Version?.ToString() ?? "0.0.0",
        InventoryCollector.Collect());

    /// <summary>A hash of the facts, so that the agent sends them again only when they changed.</summary>
    public static string Hash(FactsReport facts) => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(
        System.Text.Encoding.UTF8.GetBytes(System.Text.Json.JsonSerializer.Serialize(facts, ProtocolJson.Options))));

    internal static string OperatingSystemName() =>
        OperatingSystem.IsWindows() ? "Windows" : OperatingSystem.IsLinux() ? "Linux" : OperatingSystem.IsMacOS() ? "macOS" : RuntimeInformation.OSDescription;

    private static List<string> Addresses(out string? mac)
    {
        mac = null;
        var addresses = new List<string>();
        try
        {
            foreach (var nic in NetworkInterface.GetAllNetworkInterfaces()
                         .Where(n => n.OperationalStatus == OperationalStatus.Up && n.NetworkInterfaceType != NetworkInterfaceType.Loopback))
            {
                var unicast = nic.GetIPProperties().UnicastAddresses
                    .Where(a => a.Address.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6 && !a.Address.IsIPv6LinkLocal)
                    .Select(a => a.Address.ToString()).ToList();
                if (unicast.Count == 0)
                {
                    continue;
                }
                addresses.AddRange(unicast);
                var physical = nic.GetPhysicalAddress().GetAddressBytes();
                if (mac is null && physical.Length == 6)
                {
                    mac = string.Join("-", physical.Select(b => b.ToString("X2")));
                }
            }
        }
        catch (NetworkInformationException)
        {
            // Some sandboxes hide the interfaces; the host registers without addresses.
        }
        if (addresses.Count == 0)
        {
            addresses.Add("127.0.0.1");
        }
        return addresses;
    }
}
