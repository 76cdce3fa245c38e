using JP1Dist.Agent;
using JP1Dist.Contracts;
using JP1Dist.Core.Domain;
using JP1Dist.Core.Policies;
using JP1Dist.Protocol;
using Xunit;

namespace JP1Dist.Tests.Engine;

/// <summary>The pieces a policy is made of: versions, version ranges, CIDR ranges, software patterns, rules.</summary>
public sealed class PolicyMatchingTests
{
    [Theory]
    [InlineData("10.1.0.0/16", "10.1.200.7", true)]
    [InlineData("10.1.0.0/16", "10.2.0.1", false)]
    [InlineData("10.1.2.3", "10.1.2.3", true)]
    [InlineData("0.0.0.0/0", "192.168.1.1", true)]
    [InlineData("10.1.0.0/16", "::ffff:10.1.0.9", true)]
    [InlineData("fd00::/8", "fd12::1", true)]
    [InlineData("fd00::/8", "10.1.0.1", false)]
    [InlineData("10.1.0.0/16", "not-an-address", false)]
    public void Address_ranges_match_by_prefix(string range, string address, bool expected) =>
        Assert.Equal(expected, AddressRange.Parse(range).Contains(address));

    [Theory]
    [InlineData("10.1.0.0/33")]
    [InlineData("10.1.0/16")]
    [InlineData("10.1.0.0/")]
    [InlineData("300.1.0.0/8")]
    [InlineData("sales")]
    public void Malformed_address_ranges_are_refused(string range) =>
        Assert.Equal("AddressRangeInvalid", Assert.Throws<DistException>(() => AddressRange.Parse(range)).ErrorId);

    private static HostFactSet Host(string name = "new-pc1", string os = "Windows", string osVersion = "10.0.19045", string address = "10.1.4.5",
        long memory = 16384, string[]? groups = null, (string, string)[]? software = null) =>
        new(Guid.NewGuid(), name, os, osVersion, "X64", [address], ["00-11-22-33-44-55"], memory, 8,
            (groups ?? []).ToHashSet(StringComparer.OrdinalIgnoreCase), software ?? []);

    private static PolicyRule Rule(params (string Fact, string Pattern)[] entries) =>
        PolicyRule.Compile(entries.ToDictionary(e => e.Fact, e => (IReadOnlyList<string>)[e.Pattern]));

    [Fact]
    public void A_rule_matches_when_every_entry_matches()
    {
        var rule = Rule(("HostName", "new-*"), ("IPAddress", "10.1.0.0/16"), ("OS", "Windows*"), ("OSVersion", ">=10.0.19045"),
            ("Architecture", "X64"), ("HostGroup", "Sales"), ("MinMemoryMB", "8192"), ("SoftwareInstalled", "Office>=16"), ("SoftwareAbsent", "OldAV"));
        var good = Host(groups: ["Sales"], software: [("Office", "16.0.1")]);
        Assert.True(rule.Matches(good));
        Assert.False(rule.Matches(good with { Name = "old-pc" }));
        Assert.False(rule.Matches(good with { Addresses = ["10.2.0.1"] }));
        Assert.False(rule.Matches(good with { OSVersion = "10.0.17763" }));
        Assert.False(rule.Matches(good with { MemoryMB = 4096 }));
        Assert.False(rule.Matches(good with { HostGroups = new HashSet<string>() }));
        Assert.False(rule.Matches(good with { Software = [("Office", "15.0")] }));
        Assert.False(rule.Matches(good with { Software = [("Office", "16.0"), ("OldAV", "1.0")] }));
    }

    [Fact]
    public void A_policy_matches_when_any_rule_matches_and_lists_mean_any()
    {
        var policy = new IdGroupPolicy([Rule(("HostName", "a-*")), PolicyRule.Compile(new Dictionary<string, IReadOnlyList<string>> { ["IPAddress"] = ["10.9.0.0/16", "192.168.0.0/24"] })]);
        Assert.True(policy.Matches(Host(name: "a-1", address: "1.1.1.1")));
        Assert.True(policy.Matches(Host(name: "b-1", address: "192.168.0.8")));
        Assert.False(policy.Matches(Host(name: "b-1", address: "10.1.0.8")));
    }

    [Theory]
    [InlineData("Colour", "red", "PolicyFactUnknown")]
    [InlineData("IPAddress", "10.0.0.0/40", "AddressRangeInvalid")]
    [InlineData("OSVersion", ">=ten", "VersionRangeInvalid")]
    [InlineData("MinMemoryMB", "lots", "PolicyValueInvalid")]
    [InlineData("SoftwareInstalled", "Office>=", "VersionRangeInvalid")]
    [InlineData("HostName", " ", "PolicyValueInvalid")]
    public void Bad_rules_name_what_is_wrong(string fact, string pattern, string errorId)
    {
        var error = Assert.Throws<DistException>(() => Rule((fact, pattern)));
        Assert.Equal(errorId, error.ErrorId);
    }

    [Fact]
    public void Policies_round_trip_through_their_stored_form()
    {
        var policy = new IdGroupPolicy([Rule(("hostname", "new-*"), ("OS", "Linux"))]);
        var again = IdGroupPolicy.FromJson(policy.ToJson());
        Assert.Equal(["HostName", "OS"], again.Rules[0].Conditions.Keys);
        Assert.True(again.Matches(Host(os: "Linux")));
    }

    [Fact]
    public void Dpkg_status_lists_only_installed_packages()
    {
        var text = "Package: openssl\nStatus: install ok installed\nVersion: 3.0.2-0ubuntu1\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\n\nPackage: curl\nStatus: install ok installed\nVersion: 7.81.0\n";
        var software = InventoryCollector.ParseDpkgStatus(text);
        Assert.Equal(["openssl", "curl"], software.Select(s => s.Name));
        Assert.Equal("3.0.2-0ubuntu1", software[0].Version);
        Assert.All(software, s => Assert.Equal("dpkg", s.Source));
    }
}
