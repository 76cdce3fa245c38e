using System.Collections;
using JP1Dist.Contracts;
using JP1Dist.Core.Conditions;
using JP1Dist.Core.Distribution;
using JP1Dist.Core.Domain;
using JP1Dist.Core.Jobs;
using JP1Dist.Core.Packaging;
using JP1Dist.Core.Policies;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Conditions;
using JP1Dist.Protocol.Versions;
using JP1Dist.Server.Serving;
using JP1Dist.Tests.Engine;
using Xunit;

namespace JP1Dist.Tests.Versions;

/// <summary>
/// The one version rule, pinned by tables: how versions order (dpkg and rpm, epochs, Windows four-part versions,
/// pre-release text), and that every place that decides with it (install conditions on the agent, the manager's
/// pre-check, ID group policies, Get-DistInventory -Software) gives the same answer for the same text.
/// </summary>
public sealed class VersionRulesTests
{
    public static TheoryData<string, string, int> Orderings => new()
    {
        // Runs of digits are numbers; a missing part is zero.
        { "1.10", "1.9", 1 },
        { "1.2", "1.2.0", 0 },
        { "1.01", "1.1", 0 },
        { "10.0.19041", "10.0.22621", -1 },
        { "10.0.19045", "10.0.9", 1 },
        { "123456789012345678901234567890", "123456789012345678901234567889", 1 },
        // Windows four-part versions.
        { "16.0.4266.1001", "16", 1 },
        { "10.0.19045.3803", "10.0.19045.4046", -1 },
        { "1.2.0.0", "1.2", 0 },
        { "6.3.9600.16384", "10.0.10240.16384", -1 },
        // dpkg: epochs, upstream before revision, tilde before everything.
        { "1:1.0", "2.0", 1 },
        { "1:2.38-4", "2:1.0", -1 },
        { "0:1.0", "1.0", 0 },
        { "2.38.1-1", "2.38-4", 1 },
        { "3.0.2-0ubuntu1.10", "3.0.2-0ubuntu1.9", 1 },
        { "2.3-4ubuntu1", "2.3-4", 1 },
        { "7.88.1-10+deb12u5", "7.88.1-10+deb12u12", -1 },
        { "1.0-1", "1.0", 1 },
        { "1.0-0", "1.0", 0 },
        { "1.0~rc1", "1.0", -1 },
        { "1.0~rc1", "1.0~rc2", -1 },
        { "1.0~", "1.0", -1 },
        { "1.0~~", "1.0~", -1 },
        // rpm: release after the hyphen, letters after the end, numbers after letters, caret.
        { "1.2-2.el8", "1.2-10.el8", -1 },
        { "1.0a", "1.0", 1 },
        { "1.0.1", "1.0a", 1 },
        { "1.0^git1", "1.0", 1 },
        { "1.0^git1", "1.0.1", -1 },
        // Letter releases (OpenSSL) come after the release they follow.
        { "1.1.1k", "1.1.1", 1 },
        { "1.1.1k", "1.1.1w", -1 },
        { "1.1.1w", "3.0.0", -1 },
        // Pre-release text comes before the release, in the order dev, alpha, beta, pre, preview, rc.
        { "1.0-beta", "1.0", -1 },
        { "1.0-beta", "1.0.1", -1 },
        { "1.2.beta", "1.2.1", -1 },
        { "3.0.0-alpha1", "3.0.0-beta1", -1 },
        { "3.0.0-beta2", "3.0.0-rc1", -1 },
        { "5.0-dev", "5.0-alpha", -1 },
        { "24.08-preview", "24.08", -1 },
        { "1.0-rc1", "1.0-ubuntu1", -1 },
        { "2.0RC1", "2.0rc1", 0 },
        // The same pre-release however it is written: after a hyphen, a dot, a tilde or nothing, with trailing zeros.
        { "1.0rc2", "1.0-rc1", 1 },
        { "1.0.rc5", "1.0-rc2", 1 },
        { "1.0.0rc1", "1.0rc1", 0 },
        { "1.0~rc1", "1.0-rc1", 0 },
        { "3.0.0~rc2-1", "3.0.0-rc1", 1 },
        // Zeros count only where something follows them (one order, so it stays transitive).
        { "1.1.1k", "1.1.1.0", 1 },
        { "2a", "2.0", 1 },
        { "1.0a", "1", 1 },
        { "1.0.0.1", "1.0a", 1 },
        { "1.0~git5", "1~git5", 0 },
        { "1.0~git5", "1.0", -1 },
    };

    [Fact]
    public void The_order_is_transitive_over_every_version_of_the_table()
    {
        // A comparison that is not a total order makes a sort unsound: sorted, every pair must compare in order.
        var versions = Orderings.SelectMany(row => new[] { (string)row[0], (string)row[1] }).Distinct().ToList();
        var sorted = versions.Order(Comparer<string>.Create(VersionComparer.Compare)).ToList();
        for (var i = 0; i < sorted.Count; i++)
        {
            for (var j = i + 1; j < sorted.Count; j++)
            {
                Assert.True(VersionComparer.Compare(sorted[i], sorted[j]) <= 0, $"'{sorted[i]}' sorts before '{sorted[j]}' but compares after it.");
            }
        }
    }

    [Fact]
    public void Any_text_an_agent_reports_compares_without_error()
    {
        // Versions come from agents: empty, separators only, huge numbers, long rows of zeros, no digits at all.
        var zeros = string.Join('.', Enumerable.Repeat("0", 100_000));
        foreach (var text in new[] { "", " ", "...", "~~~", "-", ":", "1:", ":1", "-1", new string('9', 100_000), zeros, zeros + "a", zeros + "~rc1", "é.ü", "\u0661.2" })
        {
            Assert.Equal(0, VersionComparer.Compare(text, text));
            _ = VersionComparer.Compare(text, "1.0");
            _ = VersionRange.Parse(">=1.0 <2").Contains(text);
        }
        Assert.Equal(0, VersionComparer.Compare(zeros, "0"));
        Assert.Equal(1, VersionComparer.Compare(zeros + "a", "0"));
        Assert.Equal(-1, VersionComparer.Compare(zeros + "~rc1", "0"));
    }

    [Theory]
    [MemberData(nameof(Orderings))]
    public void Versions_order_as_the_table_says(string left, string right, int expected)
    {
        Assert.Equal(expected, VersionComparer.Compare(left, right));
        Assert.Equal(-expected, VersionComparer.Compare(right, left));
        Assert.Equal(0, VersionComparer.Compare(left, left));
    }

    /// <summary>Ranges and versions, each answered the same by every place that decides with them.</summary>
    public static TheoryData<string, string, bool> Ranges => new()
    {
        { ">=10.0 <11", "10.0.19041", true },
        { ">=10.0, <11", "11.0", false },
        { ">1.0<=2", "2", true },
        { "=2.4.1", "2.4.1.0", true },
        { "==2.4.1", "2.4.1", true },
        { "2.4.1", "2.4.2", false },
        { "1.2", "1.2.0", true },
        { "!=1.0", "1.0", false },
        { "!=1.2", "1.3", true },
        { ">=10.0.19045", "10.0.19045", true },
        { ">=10.0.19045", "10.0.17763", false },
        { ">=1.0 <2.0", "1.9.9", true },
        { ">=1.0 <2.0", "2.0", false },
        { ">=3", "3.0.2-0ubuntu1.10", true },
        { "<3.0", "1.1.1f-1ubuntu2", true },
        { "<3.0.2", "3.0.2-0ubuntu1", false },
        { ">=3", "3.0.0-beta1", false },
        { ">=3.0.0-beta1", "3.0.0", true },
        { ">=1:2.38", "2.40", false },
        { "<2.38.1", "2.38-4", true },
        { ">=1.1.1k", "1.1.1w", true },
        { "<1.0", "1.0~rc1", true },
        { ">16", "16.0.4266.1001", true },
        { "<3", "unknown", false },
        { ">=1.1.1.0", "1.1.1k", true },
        { ">=1.1.1", "1.1.1k", true },
        { "<2.0", "2a", false },
        { ">=3.0.0-rc1", "3.0.0~rc2-1", true },
    };

    [Theory]
    [MemberData(nameof(Ranges))]
    public void Ranges_decide_alike_in_conditions_and_policies(string range, string version, bool contains)
    {
        Assert.Equal(contains, VersionRange.Parse(range).Contains(version));

        // Install conditions, as the agent and the manager's pre-check evaluate them. After a software name the range
        // starts with an operator, since names hold spaces and digits too ("Visual C++ 2015").
        var spec = Software("pkg", range);
        var software = new Dictionary<string, IReadOnlyList<string>>(StringComparer.OrdinalIgnoreCase) { ["pkg"] = [version] };
        var facts = new ConditionFacts { OSVersion = version, Software = software };
        Assert.Equal(contains, ConditionEvaluator.Evaluate(new InstallConditions { OSVersion = range }, facts).Met);
        Assert.Equal(contains, ConditionEvaluator.Evaluate(new InstallConditions { SoftwareInstalled = [spec] }, facts).Met);
        Assert.Equal(!contains, ConditionEvaluator.Evaluate(new InstallConditions { SoftwareAbsent = [spec] }, facts).Met);

        // ID group policies.
        var host = new HostFactSet(Guid.NewGuid(), "pc", "Linux", version, "X64", [], [], 4096, 2, new HashSet<string>(), [("pkg", version)]);
        Assert.Equal(contains, Policy("OSVersion", range).Matches(host));
        Assert.Equal(contains, Policy("SoftwareInstalled", spec.Replace(" ", "", StringComparison.Ordinal)).Matches(host));
        Assert.Equal(!contains, Policy("SoftwareAbsent", spec).Matches(host));
    }

    [Fact]
    public async Task The_inventory_query_and_the_pre_check_decide_as_the_table_says()
    {
        using var folder = new TestFolder();
        folder.WriteFile("pkg/setup.sh", "exit 0");
        var engine = folder.Engine;
        var distribution = new DistributionService(engine, new HostSignals());
        await engine.Packages.CreateAsync(new NewPackageRequest("App", "1.0", Path.Combine(folder.Root, "pkg"), "setup.sh"));
        var rows = Ranges.Select(row => ((string)row[0], (string)row[1], (bool)row[2])).ToList();
        for (var i = 0; i < rows.Count; i++)
        {
            var (range, version, contains) = rows[i];
            var name = $"pc-{i}";
            await folder.RegisterHostAsync(name, "Linux", "6.1", "10.0.0.1", 4096, new SoftwareFact($"pkg-{i}", version, "dpkg"));

            // Get-DistInventory -Software
            var found = await engine.Inventory.FindSoftwareAsync(Software($"pkg-{i}", range));
            Assert.True(contains == (found.Count == 1), $"Inventory: '{version}' in '{range}' should be {contains}.");

            // The manager's pre-check at dispatch, on the software the host reported.
            await engine.Jobs.CreateAsync(new NewJobRequest($"J{i}", "App", null, [name],
                InstallConditions: new InstallConditions { SoftwareInstalled = [Software($"pkg-{i}", range)] }));
            var execution = await engine.Jobs.StartAsync($"J{i}");
            await distribution.DispatchAsync(execution.ExecutionId, default);
            var status = Assert.Single(await engine.Jobs.GetStatusAsync(new JobStatusQuery($"J{i}")));
            Assert.True(contains == (status.Status == TargetStatus.Queued), $"Pre-check: '{version}' in '{range}' gave {status.Status}: {status.Message}.");
        }
    }

    [Fact]
    public void An_unknown_version_satisfies_no_range_and_an_unknown_fact_decides_nothing()
    {
        Assert.False(VersionRange.Parse("!=1.0").Contains(""));
        Assert.False(VersionRange.Parse("<3").Contains(null));
        // The manager does not know the OS version of a host that never reported one: the agent decides.
        Assert.True(ConditionEvaluator.Evaluate(new InstallConditions { OSVersion = ">=10" }, new ConditionFacts()).Met);
    }

    [Theory]
    [InlineData(">=")]
    [InlineData(">=1.0 <")]
    [InlineData("=>1.0")]
    [InlineData(">=1/0")]
    [InlineData(">=ten")]
    [InlineData("!1.0")]
    [InlineData("> =1.0")]
    public void Malformed_ranges_are_refused_everywhere_by_name(string range)
    {
        Assert.Equal("VersionRangeInvalid", Assert.Throws<DistException>(() => VersionRange.Parse(range)).ErrorId);
        Assert.Equal("VersionRangeInvalid", Assert.Throws<DistException>(() => Policy("OSVersion", range)).ErrorId);
        Assert.Equal("VersionRangeInvalid", Assert.Throws<DistException>(() => Policy("SoftwareInstalled", "pkg" + range)).ErrorId);
        Assert.Equal("VersionRangeInvalid", Assert.Throws<DistException>(() => SoftwareSpec.Parse("pkg " + range)).ErrorId);
        var condition = Assert.Throws<DistException>(() => InstallConditionReader.FromDictionary(new Hashtable { ["OSVersion"] = range }));
        Assert.Equal("InstallConditionInvalid", condition.ErrorId);
        Assert.Contains("OSVersion", condition.Message, StringComparison.Ordinal);
        Assert.Equal("InstallConditionInvalid", Assert.Throws<DistException>(() =>
            InstallConditionReader.FromDictionary(new Hashtable { ["SoftwareInstalled"] = "pkg " + range })).ErrorId);
    }

    [Fact]
    public void Software_names_match_alike_with_wildcards_and_without_regard_to_case()
    {
        var office = SoftwareSpec.Parse("Office>=16");
        Assert.Equal(("Office", ">=16"), (office.Name, office.Range!.Text));
        Assert.True(office.Matches("office", "16.0.1"));
        Assert.False(office.Matches("Office", "15.9"));
        var any = SoftwareSpec.Parse("Microsoft Visual C++*");
        Assert.False(any.IsExactName);
        Assert.True(any.Matches("microsoft visual c++ 2015-2022 redistributable (x64)", ""));
        Assert.Equal("SoftwarePatternInvalid", Assert.Throws<DistException>(() => SoftwareSpec.Parse(">=1")).ErrorId);
        Assert.True(SoftwareSpec.Parse("Tool `[x64`] >=2").Matches("tool [X64]", "2.1"));
        Assert.Equal("WildcardPatternInvalid", Assert.Throws<DistException>(() => SoftwareSpec.Parse("Tool [x64 >=2")).ErrorId);
        Assert.Equal("InstallConditionInvalid", Assert.Throws<DistException>(() =>
            InstallConditionReader.FromDictionary(new Hashtable { ["SoftwareAbsent"] = "Tool [x64" })).ErrorId);
        // A condition that cannot be read, as one stored under earlier rules, is not met rather than an error.
        var unreadable = ConditionEvaluator.Evaluate(new InstallConditions { SoftwareAbsent = ["Tool [x64"] },
            new ConditionFacts { Software = new Dictionary<string, IReadOnlyList<string>>() });
        Assert.False(unreadable.Met);
        Assert.Contains("cannot be checked", unreadable.Message, StringComparison.Ordinal);

        var facts = new ConditionFacts
        {
            Software = new Dictionary<string, IReadOnlyList<string>>(StringComparer.OrdinalIgnoreCase) { ["Microsoft Visual C++ 2015-2022 Redistributable (x64)"] = ["14.40.33810.0"] },
        };
        var host = new HostFactSet(Guid.NewGuid(), "pc", "Windows", "10.0", "X64", [], [], 4096, 2, new HashSet<string>(),
            [("Microsoft Visual C++ 2015-2022 Redistributable (x64)", "14.40.33810.0")]);
        foreach (var (spec, expected) in new[] { ("microsoft visual c++* >=14.30", true), ("Microsoft Visual C++* <14", false), ("7-Zip", false) })
        {
            Assert.Equal(expected, ConditionEvaluator.Evaluate(new InstallConditions { SoftwareInstalled = [spec] }, facts).Met);
            Assert.Equal(expected, Policy("SoftwareInstalled", spec).Matches(host));
        }
    }

    private static string Software(string name, string range) => char.IsAsciiDigit(range[0]) ? $"{name} ={range}" : $"{name} {range}";

    private static PolicyRule Policy(string fact, string pattern) =>
        PolicyRule.Compile(new Dictionary<string, IReadOnlyList<string>> { [fact] = [pattern] });
}
