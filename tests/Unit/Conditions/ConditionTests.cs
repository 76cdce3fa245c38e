using System.Collections;
using JP1Dist.Agent;
using JP1Dist.Contracts;
using JP1Dist.Core.Conditions;
using JP1Dist.Core.Domain;
using JP1Dist.Protocol;
using JP1Dist.Protocol.Conditions;
using Xunit;

namespace JP1Dist.Tests.Conditions;

/// <summary>Each condition kind, met and not met, through the one evaluator the agent and the manager share.</summary>
public sealed class ConditionTests
{
    private static readonly ConditionFacts Host = new()
    {
        OS = "Linux",
        OSVersion = "6.1.0",
        Architecture = "X64",
        MemoryMB = 8192,
        FreeDiskMB = path => path.StartsWith("/small", StringComparison.Ordinal) ? 100 : 50_000,
        Software = new Dictionary<string, IReadOnlyList<string>>(StringComparer.OrdinalIgnoreCase)
        {
            ["openssl"] = ["3.0.2-0ubuntu1.10"],
            ["7-Zip"] = ["24.08"],
        },
    };

    public static TheoryData<string, InstallConditions, bool> Cases => new()
    {
        { "MinFreeDiskMB", new InstallConditions { MinFreeDiskMB = 1000 }, true },
        { "MinFreeDiskMB", new InstallConditions { MinFreeDiskMB = 1000, InstallPath = "/small/disk" }, false },
        { "MinMemoryMB", new InstallConditions { MinMemoryMB = 4096 }, true },
        { "MinMemoryMB", new InstallConditions { MinMemoryMB = 16384 }, false },
        { "OS", new InstallConditions { OS = ["windows", "linux"] }, true },
        { "OS", new InstallConditions { OS = ["Windows"] }, false },
        { "OSVersion", new InstallConditions { OSVersion = ">=5.10 <7" }, true },
        { "OSVersion", new InstallConditions { OSVersion = ">=6.2" }, false },
        { "Architecture", new InstallConditions { Architecture = ["x64", "Arm64"] }, true },
        { "Architecture", new InstallConditions { Architecture = ["Arm64"] }, false },
        { "SoftwareInstalled", new InstallConditions { SoftwareInstalled = ["openssl >=3.0 <4", "7-zip"] }, true },
        { "SoftwareInstalled", new InstallConditions { SoftwareInstalled = ["openssl>=3.1"] }, false },
        { "SoftwareInstalled", new InstallConditions { SoftwareInstalled = ["curl"] }, false },
        { "SoftwareAbsent", new InstallConditions { SoftwareAbsent = ["curl", "7-Zip <24"] }, true },
        { "SoftwareAbsent", new InstallConditions { SoftwareAbsent = ["7-Zip"] }, false },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Each_condition_is_met_or_names_itself_and_the_value_found(string condition, InstallConditions conditions, bool met)
    {
        var result = ConditionEvaluator.Evaluate(conditions, Host);
        Assert.Equal(met, result.Met);
        if (!met)
        {
            Assert.Equal(condition, result.Condition);
            Assert.StartsWith($"Condition {condition} not met:", result.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void The_message_names_the_value_found()
    {
        var result = ConditionEvaluator.Evaluate(new InstallConditions { MinMemoryMB = 16384 }, Host);
        Assert.Contains("8192 MB", result.Message, StringComparison.Ordinal);
        var software = ConditionEvaluator.Evaluate(new InstallConditions { SoftwareInstalled = ["openssl >=3.1"] }, Host);
        Assert.Contains("3.0.2-0ubuntu1.10", software.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Facts_the_manager_does_not_know_decide_nothing()
    {
        var manager = HostConditionFacts.From("Linux", "6.1", "X64");
        var conditions = new InstallConditions { MinFreeDiskMB = 1_000_000, MinMemoryMB = 1_000_000, SoftwareInstalled = ["nothing"], CheckCommand = "false" };
        Assert.True(ConditionEvaluator.Evaluate(conditions, manager).Met);
        Assert.False(ConditionEvaluator.Evaluate(conditions with { OS = ["Windows"] }, manager).Met);
    }

    [Fact]
    public void The_manager_decides_memory_disk_and_software_from_the_last_inventory()
    {
        var volumes = System.Text.Json.JsonSerializer.Serialize(new[] { new VolumeFact("C:\\", 200_000, 500), new VolumeFact("D:\\", 200_000, 90_000) }, ProtocolJson.Options);
        var software = new Dictionary<string, IReadOnlyList<string>>(StringComparer.OrdinalIgnoreCase) { ["7-Zip"] = ["19.00"] };
        var windows = HostConditionFacts.From("Windows", "10.0.19045", "X64", 4096, volumes, software);

        Assert.Equal("MinMemoryMB", ConditionEvaluator.Evaluate(new InstallConditions { MinMemoryMB = 8192 }, windows).Condition);
        Assert.Equal("MinFreeDiskMB", ConditionEvaluator.Evaluate(new InstallConditions { MinFreeDiskMB = 1000, InstallPath = @"c:\Program Files\App" }, windows).Condition);
        Assert.True(ConditionEvaluator.Evaluate(new InstallConditions { MinFreeDiskMB = 1000, InstallPath = "D:/Apps" }, windows).Met);
        // No install path: the volume is the agent's staging folder, which only the agent knows.
        Assert.True(ConditionEvaluator.Evaluate(new InstallConditions { MinFreeDiskMB = 1000 }, windows).Met);
        Assert.Equal("SoftwareInstalled", ConditionEvaluator.Evaluate(new InstallConditions { SoftwareInstalled = ["7-zip >=22"] }, windows).Condition);
        Assert.Equal("SoftwareAbsent", ConditionEvaluator.Evaluate(new InstallConditions { SoftwareAbsent = ["7-Zip"] }, windows).Condition);

        var linux = HostConditionFacts.From("Linux", "6.1", "X64", 0,
            System.Text.Json.JsonSerializer.Serialize(new[] { new VolumeFact("/", 100_000, 50_000), new VolumeFact("/var", 100_000, 10) }, ProtocolJson.Options));
        Assert.Equal("MinFreeDiskMB", ConditionEvaluator.Evaluate(new InstallConditions { MinFreeDiskMB = 100, InstallPath = "/var/lib/app" }, linux).Condition);
        Assert.True(ConditionEvaluator.Evaluate(new InstallConditions { MinFreeDiskMB = 100, InstallPath = "/opt/app" }, linux).Met);
        Assert.True(ConditionEvaluator.Evaluate(new InstallConditions { MinFreeDiskMB = 100, InstallPath = "/variable" }, linux).Met); // not /var
        // Memory and software never reported are unknown, not zero.
        Assert.True(ConditionEvaluator.Evaluate(new InstallConditions { MinMemoryMB = 1_000_000, SoftwareInstalled = ["x"] }, linux).Met);
    }

    [Fact]
    public void A_hashtable_becomes_conditions_and_bad_entries_are_refused_by_name()
    {
        var conditions = InstallConditionReader.FromDictionary(new Hashtable
        {
            ["minfreediskmb"] = 500, ["OS"] = "Linux", ["Architecture"] = new object[] { "X64", "Arm64" },
            ["SoftwareAbsent"] = "old-app <2", ["CheckCommand"] = "/bin/true", ["CheckArguments"] = new[] { "-x" }, ["CheckTimeoutSeconds"] = 5,
        });
        Assert.Equal(500, conditions.MinFreeDiskMB);
        Assert.Equal(["Linux"], conditions.OS);
        Assert.Equal(["X64", "Arm64"], conditions.Architecture);
        Assert.Equal(["-x"], conditions.CheckArguments);

        Assert.Equal("InstallConditionInvalid", Assert.Throws<DistException>(() => InstallConditionReader.FromDictionary(new Hashtable { ["Colour"] = "red" })).ErrorId);
        Assert.Contains("OSVersion", Assert.Throws<DistException>(() => InstallConditionReader.FromDictionary(new Hashtable { ["OSVersion"] = ">=" })).Message, StringComparison.Ordinal);
        Assert.Throws<DistException>(() => InstallConditionReader.FromDictionary(new Hashtable { ["MinMemoryMB"] = -1 }));
        Assert.Throws<DistException>(() => InstallConditionReader.FromDictionary(new Hashtable { ["CheckArguments"] = "x" }));
    }

    [Fact]
    public void A_job_overrides_its_package_condition_by_condition()
    {
        var package = new InstallConditions { MinFreeDiskMB = 100, OS = ["Linux"] };
        var merged = package.Merge(new InstallConditions { MinFreeDiskMB = 900 });
        Assert.Equal(900, merged.MinFreeDiskMB);
        Assert.Equal(["Linux"], merged.OS);
        Assert.True(new InstallConditions().IsEmpty);
    }

    [Fact]
    public void Rpm_packages_come_from_rpm_qa_with_name_and_version_release()
    {
        if (OperatingSystem.IsWindows())
        {
            return; // rpm is for Linux; Windows reads the Uninstall keys.
        }
        // A stand-in for rpm that answers the query the agent sends (and nothing else), as rpm would print it.
        var folder = Directory.CreateTempSubdirectory("jp1dist-rpm-");
        try
        {
            var rpm = Path.Combine(folder.FullName, "rpm");
            File.WriteAllText(rpm, "#!/bin/sh\n[ \"$1 $2\" = \"-qa --queryformat\" ] || exit 2\n" +
                "printf 'openssl\\t3.0.7-27.el9\\nbash\\t5.1.8-9.el9\\nbroken line\\n'\n");
            File.SetUnixFileMode(rpm, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            var software = InventoryCollector.RpmPackages(rpm);
            Assert.Equal([("openssl", "3.0.7-27.el9", "rpm"), ("bash", "5.1.8-9.el9", "rpm")], software.Select(s => (s.Name, s.Version, s.Source)).ToList());
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void Dpkg_status_lists_only_installed_packages()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "Package: curl\nStatus: install ok installed\nVersion: 8.5.0-2\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n\nPackage: zlib1g\nStatus: install ok installed\nVersion: 1:1.3.dfsg-3\n");
            Assert.Equal([("curl", "8.5.0-2"), ("zlib1g", "1:1.3.dfsg-3")], AgentConditions.ReadDpkgStatus(path).ToList());
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task The_check_program_decides_by_its_exit_code()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        var folder = Path.Combine(Path.GetTempPath(), "jp1dist-check-" + Guid.NewGuid().ToString("N")[..8]);
        var store = new AgentStateStore(folder);
        try
        {
            var pass = await AgentConditions.CheckAsync(new InstallConditions { CheckCommand = "sh", CheckArguments = ["-c", "exit 0"] }, store, folder, true, default);
            Assert.True(pass.Met);
            var fail = await AgentConditions.CheckAsync(new InstallConditions { CheckCommand = "sh", CheckArguments = ["-c", "exit 4"] }, store, folder, true, default);
            Assert.Equal(("CheckCommand", false), (fail.Condition, fail.Met));
            Assert.Contains("exited with code 4", fail.Message, StringComparison.Ordinal);
            var slow = await AgentConditions.CheckAsync(new InstallConditions { CheckCommand = "sleep", CheckArguments = ["30"], CheckTimeoutSeconds = 1 }, store, folder, true, default);
            Assert.Contains("did not finish within 1 s", slow.Message, StringComparison.Ordinal);
            var missing = await AgentConditions.CheckAsync(new InstallConditions { CheckCommand = "/no/such/program" }, store, folder, true, default);
            Assert.Equal("Condition CheckCommand not met: The check program '/no/such/program' was not found: no such file.", missing.Message);
            // The program is not run when a fact already fails, nor before the download.
            var skipped = await AgentConditions.CheckAsync(new InstallConditions { CheckCommand = "sh", CheckArguments = ["-c", "exit 4"] }, store, folder, false, default);
            Assert.True(skipped.Met);
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }
}
