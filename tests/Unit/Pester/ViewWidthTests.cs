using System.Reflection;
using System.Xml.Linq;
using JP1Dist.Contracts;
using JP1Dist.Protocol;
using Xunit;

namespace JP1Dist.Tests.Pester;

/// <summary>
/// Every table view of the module's format file, rendered by the real PowerShell engine from realistic objects (long host
/// names, a long message, several addresses) as an 80- and a 120-column console shows them and as Out-String -Width gives
/// them: every line fits, no value is broken into fragments, every column's header is there at 80, and the last column,
/// which has no width, shows more at 120.
/// </summary>
public sealed class ViewWidthTests
{
    private static readonly DateTime At = new(2026, 12, 6, 9, 41, 27);

    private const string LongMessage =
        "The install command exited with code 1603 (a fatal error during installation); the Windows Installer log on the "
        + "host names the custom action that failed. Fix the package or the host and execute the job again for it.";

    private static readonly string[] Addresses = ["10.1.23.145", "192.168.122.1", "fd00:10:1:23::145"];

    /// <summary>Sample objects of every type that has a table view, by the type name the view is selected by.</summary>
    private static readonly Dictionary<string, object[]> Samples = new()
    {
        ["JP1Dist.Contracts.DistPackage"] =
        [
            new DistPackage("Office2024-ProPlus-JP", "16.0.17928", "Office 2024 for the sales floors", "setup.exe",
                ["/configure", "configuration-sales-floor3.xml", "/quiet", "/norestart"], [0, 3010], 3600, 1 << 20, 2_845_193_216, 1532, 2714, At, 12,
                ExpiresAt: At.AddDays(30)),
            new DistPackage("7zip", "24.08", null, "7z2408-x64.msi", [], [0], 600, 1 << 20, 1_590_000, 1, 2, At, 13),
        ],
        ["JP1Dist.Contracts.DistHost"] =
        [
            new DistHost("relay-osaka-floor3", Guid.NewGuid(), "Windows", "10.0.20348", "X64", ["10.7.0.10", "10.7.1.10"], "52-54-00-12-34-07",
                "1.4.0", At, At, HostKind.Relay),
            new DistHost("sales-floor3-pc-0123", Guid.NewGuid(), "Windows", "10.0.19045", "X64", Addresses, "52-54-00-12-34-56", "1.4.0", At, At,
                HostKind.Client, "relay-osaka-floor3", Guid.NewGuid(), 1),
        ],
        ["JP1Dist.Contracts.DistHostPower"] =
        [
            new DistHostPower("sales-floor3-pc-0123", "Shutdown", PowerOrderState.Requested, 300, At, null, null,
                "Shutdown recorded at 2026-12-06 09:41:27 UTC: the agent shuts the computer down once no install or transfer runs, after a grace of 300 seconds.",
                Guid.NewGuid()),
        ],
        ["JP1Dist.Contracts.DistHostWake"] =
        [
            new DistHostWake("sales-floor3-pc-0123", WakeOutcome.AskedOfRelay, "52-54-00-12-34-56", "10.7.20.255", 9, "relay-osaka-floor3", At,
                "Wake-on-LAN asked of relay 'relay-osaka-floor3' at 2026-12-06 09:41:27 UTC: it sends the magic packet for 52-54-00-12-34-56 to 10.7.20.255:9 on its own network."),
            new DistHostWake("sales-floor3-pc-0124", WakeOutcome.NoMacAddress, null, null, 9, "(manager)", At,
                "Not woken: no MAC address is known for this host (its agent has not reported one), so no magic packet could be sent; start the computer by hand."),
        ],
        ["JP1Dist.Contracts.DistPendingHost"] =
        [
            new DistPendingHost("sales-floor3-pc-0123", Guid.NewGuid(), HostKind.Client, "Windows", "10.0.19045", "X64", Addresses, "52-54-00-12-34-56",
                "1.4.0", At, 3, "Sales floor 3 rollout, December", "(manager)", ReplacesHost: true),
        ],
        ["JP1Dist.Contracts.DistJob"] =
        [
            new DistJob("Office2024-Sales", "Office2024-ProPlus-JP", "16.0.17928", JobType.TransferToRelay,
                ["sales-floor3-pc-0123", "sales-floor3-pc-0124", "sales-floor3-pc-0125", "Sales Floor 4"], At, null, At, 2, At, 7)
            {
                // Four-digit counts: the widest the count columns take.
                Targets = new DistJobTargetCounts(9999, 1234, 987, 5000, 2000, 700, 50, 28),
            },
        ],
        ["JP1Dist.Contracts.DistJobStatus"] =
        [
            new DistJobStatus("Office2024-Sales", "sales-floor3-pc-0123", TargetStatus.Failed, 1603, LongMessage, 2, At, At, At, At,
                2_845_193_216, null, 7, Guid.NewGuid(), At, 2714, 2714, 2_845_193_216),
            new DistJobStatus("Office2024-Sales", "sales-floor3-pc-0124", TargetStatus.Transferring, null, "Transferring the package from relay-osaka-floor3.",
                1, At, At, null, At, 1_000_000_000, null, 7, Guid.NewGuid(), At, 954, 2714, 2_845_193_216),
            new DistJobStatus("Office2024-Sales", "relay-osaka-floor3", TargetStatus.StoredOnRelay, null, null, 1, At, At, At, At,
                2_845_193_216, null, 7, Guid.NewGuid(), At, 2714, 2714, 2_845_193_216, StoredUntil: At.AddDays(30)),
        ],
        ["JP1Dist.Contracts.DistOfflineMedia"] =
        [
            new DistOfflineMedia(Guid.NewGuid(), "Office2024-Sales", "sales-floor3-pc-0123", "Office2024-ProPlus-JP", "16.0.17928", 2_845_193_216,
                "Offline media for sales-floor3-pc-0123", [new DistOfflineContent(new string('a', 64), 2_845_193_216)],
                @"E:\JP1Dist-offline\Office2024-Sales\sales-floor3-pc-0123\media"),
        ],
        ["JP1Dist.Contracts.DistSigningKey"] =
        [
            new DistSigningKey("3f5a9c0e7b1d2468ace0f13579bdf2468ace0f13579bdf2468ace0f13579bd01", SigningKeyState.Current, At, null, null, "signing-key-2.json"),
            new DistSigningKey("9b8a7c6d5e4f30211203948576a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f900", SigningKeyState.Retiring, At.AddDays(-90), At.AddDays(7),
                "3f5a9c0e7b1d2468ace0f13579bdf2468ace0f13579bdf2468ace0f13579bd01", "signing-key-1.json"),
        ],
        ["JP1Dist.Contracts.DistManagerInfo"] =
        [
            new DistManagerInfo("https://dist-manager01.corp.example.com:22400/", 48213, "DIST-MANAGER01", At, At, true, new string('c', 64)),
        ],
        ["JP1Dist.Contracts.DistConnection"] =
        [
            new DistConnection(true, "https://mgr01.corp.local:22400/", "Connect-DistManager", "Night shift", DistRole.Administrator),
        ],
        ["JP1Dist.Contracts.JobExecutionResult"] =
        [
            new JobExecutionResult("Office2024-Sales", 3, 5, At,
                ["sales-floor3-pc-0123", "sales-floor3-pc-0124", "sales-floor3-pc-0125", "sales-floor3-pc-0126", "sales-floor3-pc-0127"]),
        ],
        ["JP1Dist.Contracts.DistHostGroup"] =
        [
            new DistHostGroup("Sales Floor 3", "Every computer on the third floor of the sales building", ["sales-floor3-pc-0123", "sales-floor3-pc-0124", "sales-floor3-pc-0125"],
                ["Sales Floor 3 Laptops", "Sales Floor 3 Kiosks"], 42, At, 4),
        ],
        ["JP1Dist.Contracts.DistIdGroup"] =
        [
            new DistIdGroup("ID_NEWCLT", "New clients", [
                new DistIdGroupMember("ID_NEWCLT", "sales-floor3-pc-0123", MembershipSource.Policy, At, Guid.NewGuid()),
                new DistIdGroupMember("ID_NEWCLT", "sales-floor3-pc-0124", MembershipSource.Policy, At, Guid.NewGuid()),
                new DistIdGroupMember("ID_NEWCLT", "sales-floor3-pc-0125", MembershipSource.Manual, At, Guid.NewGuid()),
            ], 2, At, At, 5),
        ],
        ["JP1Dist.Contracts.DistIdGroupMember"] =
        [
            new DistIdGroupMember("ID_NEWCLT", "sales-floor3-pc-0123", MembershipSource.Policy, At, Guid.NewGuid()),
        ],
        ["JP1Dist.Contracts.DistIdGroupPolicy"] =
        [
            new DistIdGroupPolicy("ID_NEWCLT", [
                Rule(("HostName", ["NEW-*"]), ("IPAddress", ["10.1.0.0/16"])),
                Rule(("OS", ["Windows*"]), ("OSVersion", [">=10.0.19045"]), ("Architecture", ["X64"]), ("MinMemoryMB", ["8192"]), ("SoftwareAbsent", ["OldAV"])),
                Rule(("HostGroup", ["Sales Floor 3", "Sales Floor 4"])),
            ], At),
            new DistIdGroupPolicy("ID_EMPTY", [], null),
        ],
        ["JP1Dist.Contracts.DistInventory"] =
        [
            new DistInventory("sales-floor3-pc-0123", "Windows", "10.0.19045", "X64", 8, 16384, [new DistVolume("C:", 476_000, 210_000)], Addresses,
                ["52-54-00-12-34-56"], [new DistSoftware("sales-floor3-pc-0123", "7-Zip", "24.08", "Registry", At, Guid.NewGuid())], At, Guid.NewGuid()),
        ],
        ["JP1Dist.Contracts.DistSoftware"] =
        [
            new DistSoftware("sales-floor3-pc-0123", "Microsoft Visual C++ 2015-2022 Redistributable (x64) - 14.38.33130", "14.38.33130.0", "Registry", At, Guid.NewGuid()),
        ],
        ["JP1Dist.Contracts.DistAccessKey"] =
        [
            new DistAccessKey("night-shift-runbook", DistRole.Administrator, null, "k-1f2e3d4c", "The night shift's runbook", At, "admin", At.AddDays(90), At, "Active"),
        ],
        ["JP1Dist.Contracts.DistAuditEntry"] =
        [
            new DistAuditEntry(1, At, "night-shift-runbook", "https", "Install-DistAvailablePackage", "Office2024-ProPlus-JP 16.0.17928 on sales-floor3-pc-0123",
                "{}", AuditOutcome.Denied),
        ],
        ["JP1Dist.Protocol.AvailablePackage"] =
        [
            new AvailablePackage("Diagram-Editor", "3.2.1", "The diagram editor the design team uses, with the templates of the sales department and its stencils",
                184_549_376, false, "Editor to Sales", Guid.NewGuid()),
        ],
        ["JP1Dist.Protocol.UserInstallOutcome"] =
        [
            new UserInstallOutcome("Diagram-Editor", "3.2.1", "SucceededRebootRequired", 3010, LongMessage, null),
        ],
    };

    /// <summary>The type names of the table views, one test case each.</summary>
    public static TheoryData<string> TableViews
    {
        get
        {
            var data = new TheoryData<string>();
            foreach (var view in Views().Where(v => v.Columns is not null))
            {
                data.Add(view.TypeName);
            }

            return data;
        }
    }

    [Fact]
    public void Every_table_view_in_the_format_file_has_samples_here()
    {
        var tables = Views().Where(v => v.Columns is not null).Select(v => v.TypeName).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(tables, Samples.Keys.Order(StringComparer.Ordinal).ToList());
    }

    [Theory]
    [MemberData(nameof(TableViews))]
    public void The_table_view_fits_80_and_120_columns_without_fragments(string typeName)
    {
        var view = Views().Single(v => v.TypeName == typeName && v.Columns is not null);
        foreach (var output in new[] { ViewOutput.Console, ViewOutput.OutString })
        {
            var narrow = Table(view, output, 80);
            var wide = Table(view, output, 120);
            // Every column's header is there at 80 columns, in the order of the view.
            var header = narrow.Header;
            var at = 0;
            foreach (var column in view.Columns!)
            {
                var found = header.IndexOf(column.Label, at, StringComparison.Ordinal);
                Assert.True(found >= 0, $"{typeName} ({output}, 80): no header '{column.Label}' in '{header}'");
                at = found + column.Label.Length;
            }

            // A last column without a width takes what remains: a wider console shows more of a long value (a view that
            // wraps shows it whole at both widths).
            if (view.Wraps)
            {
                Assert.DoesNotContain("…", string.Concat(narrow.Rows), StringComparison.Ordinal);
            }
            else if (view.Columns![^1].Width is null)
            {
                var free = view.Columns.Take(view.Columns.Count - 1).Sum(c => c.Width!.Value + 1);
                var shown80 = narrow.Rows.Max(r => Cell(r, free, null).Length);
                var shown120 = wide.Rows.Max(r => Cell(r, free, null).Length);
                Assert.True(shown120 > shown80, $"{typeName} ({output}): the last column shows {shown80} characters at 80 and {shown120} at 120");
            }
        }
    }

    [Fact]
    public void The_job_status_table_puts_job_host_status_progress_and_exit_code_before_the_message()
    {
        var view = Views().Single(v => v.TypeName == "JP1Dist.Contracts.DistJobStatus" && v.Columns is not null);
        Assert.Equal(["JobName", "HostName", "Status", "Progress", "ExitCode", "Message"], view.Columns!.Select(c => c.Label));
        var table = Table(view, ViewOutput.Console, 80);
        var failed = Assert.Single(table.Rows, r => r.Contains("sales-floor3-pc-0123", StringComparison.Ordinal));
        Assert.Matches(@"^Office2024-Sa… sales-floor3-pc-0123 Failed +100% +1603 The inst", failed);
        Assert.Contains(table.Rows, r => r.Contains("sales-floor3-pc-0124", StringComparison.Ordinal) && r.Contains(" 35% ", StringComparison.Ordinal));
        // The whole message at the width of a wide console, a relay's stored copy with its expiry first.
        var wide = Table(view, ViewOutput.OutString, 400).Rows;
        Assert.Contains(LongMessage, wide[0], StringComparison.Ordinal);
        Assert.Contains(wide, r => r.Contains("StoredOnRelay", StringComparison.Ordinal) && r.EndsWith("Stored until 2027-01-05 09:41", StringComparison.Ordinal));
    }

    [Fact]
    public void The_policy_table_shows_each_rule_as_Set_IdGroupPolicy_takes_it_in_lines_that_fit_80_columns()
    {
        var view = Views().Single(v => v.TypeName == "JP1Dist.Contracts.DistIdGroupPolicy" && v.Columns is not null);
        // The same at any width: the rules are packed into lines that fit the column at 80 columns.
        var rows = Table(view, ViewOutput.OutString, 200).Rows;
        Assert.Equal(rows, Table(view, ViewOutput.Console, 80).Rows);
        var rules = new string(' ', 20 + 1 + 16 + 1);
        Assert.Equal(
        [
            "ID_NEWCLT".PadRight(21) + "2026-12-06 09:41 HostName='NEW-*'; IPAddress='10.1.0.0/16'",
            rules + "OS='Windows*'; OSVersion='>=10.0.19045'",
            rules + "  Architecture='X64'; MinMemoryMB='8192'",
            rules + "  SoftwareAbsent='OldAV'",
            rules + "HostGroup='Sales Floor 3','Sales Floor 4'",
            "ID_EMPTY",
        ], rows.Select(r => r.TrimEnd()));
    }

    [Fact]
    public void Every_list_view_shows_every_property()
    {
        // Shown under another label: an offline media's files by their count, a token's uses as "used of allowed".
        var shownAs = new Dictionary<string, string>
        {
            ["DistOfflineMedia.Content"] = "Files",
            ["DistEnrollmentToken.UseCount"] = "Uses",
            ["DistEnrollmentToken.MaxUses"] = "Uses",
        };
        foreach (var view in Views().Where(v => v.ListItems is not null))
        {
            var type = TypeOf(view.TypeName.Split('#')[0]);
            foreach (var property in type.GetProperties(BindingFlags.Instance | BindingFlags.Public).Where(p => p.Name != "EqualityContract"))
            {
                var label = shownAs.GetValueOrDefault(type.Name + "." + property.Name, property.Name);
                Assert.True(view.ListItems!.Contains(label), $"the list view of {view.TypeName} does not show {property.Name}");
            }
        }
    }

    private static DistPolicyRule Rule(params (string Fact, string[] Patterns)[] conditions) =>
        new(conditions.ToDictionary(c => c.Fact, c => (IReadOnlyList<string>)c.Patterns));

    private static Type TypeOf(string typeName) =>
        typeof(DistHost).Assembly.GetType(typeName) ?? typeof(AvailablePackage).Assembly.GetType(typeName, throwOnError: true)!;

    /// <summary>The cell of a table line that starts at <paramref name="start"/>, <paramref name="width"/> wide (null: the rest of the line).</summary>
    private static string Cell(string line, int start, int? width) =>
        start >= line.Length ? "" : (width is { } w ? line.Substring(start, Math.Min(w, line.Length - start)) : line[start..]).Trim();

    /// <summary>
    /// The samples of <paramref name="view"/> rendered at <paramref name="width"/> columns, checked line by line: each fits, and
    /// a line that continues the row above (its first cell blank) is only the last column of a view that wraps, never a
    /// fragment of 1-3 characters nor the rest of a word cut at the column's edge.
    /// </summary>
    private static RenderedTable Table(View view, ViewOutput output, int width)
    {
        var text = ViewRendering.Render(output, width, null, Samples[view.TypeName]);
        var lines = ViewRendering.Lines(text);
        var what = $"{view.TypeName} ({output}, {width})";
        Assert.All(lines, l => Assert.True(l.Length <= width, $"{what}: wider than {width} columns: '{l}'"));
        var dashes = Array.FindIndex(lines, l => l.TrimStart().StartsWith('-') && l.All(c => c is '-' or ' '));
        Assert.True(dashes > 0, $"{what}: no table header in\n{text}");
        var columns = view.Columns!;
        var starts = new List<int>();
        var offset = 0;
        foreach (var column in columns)
        {
            starts.Add(offset);
            offset += (column.Width ?? 0) + 1;
        }

        var rows = new List<string>();
        for (var i = dashes + 1; i < lines.Length; i++)
        {
            var line = lines[i];
            if (Cell(line, 0, columns[0].Width).Length > 0 || rows.Count == 0)
            {
                rows.Add(line);
                continue;
            }

            Assert.True(view.Wraps, $"{what}: a row continues on a second line in a view that does not wrap:\n{text}");
            var last = columns.Count - 1;
            for (var c = 0; c < last; c++)
            {
                Assert.True(Cell(line, starts[c], columns[c].Width).Length == 0, $"{what}: column '{columns[c].Label}' wraps: '{line}'");
            }

            var rest = Cell(line, starts[last], columns[last].Width);
            Assert.False(rest.Length is > 0 and <= 3, $"{what}: a wrapped fragment '{rest}' in '{line}'");
            // A value cut at the column's edge: the line above fills the column to its end with a letter or digit and this one goes on with one.
            var above = lines[i - 1];
            var cutAbove = above.Length >= width - 1 && char.IsLetterOrDigit(above[^1]);
            Assert.False(cutAbove && rest.Length > 0 && char.IsLetterOrDigit(rest[0]), $"{what}: a word split across lines:\n{above}\n{line}");
            rows[^1] += "\n" + line;
        }

        return new RenderedTable(lines[dashes - 1], rows.SelectMany(r => r.Split('\n')).ToList());
    }

    private sealed record RenderedTable(string Header, IReadOnlyList<string> Rows);

    private sealed record Column(string Label, int? Width);

    /// <summary>A view of the format file: a table's columns and whether its rows wrap, or a list's labels and property names.</summary>
    private sealed record View(string Name, string TypeName, IReadOnlyList<Column>? Columns, bool Wraps, IReadOnlySet<string>? ListItems);

    private static List<View> Views()
    {
        var document = XDocument.Load(ViewRendering.FormatFile);
        var views = new List<View>();
        foreach (var view in document.Descendants("View"))
        {
            var name = (string)view.Element("Name")!;
            var typeName = (string)view.Element("ViewSelectedBy")!.Element("TypeName")!;
            if (view.Element("TableControl") is { } table)
            {
                var columns = table.Descendants("TableColumnHeader")
                    .Select(h => new Column((string)h.Element("Label")!, (int?)h.Element("Width")))
                    .ToList();
                views.Add(new View(name, typeName, columns, table.Descendants("Wrap").Any(), null));
            }
            else if (view.Element("ListControl") is { } list)
            {
                var items = list.Descendants("ListItem")
                    .SelectMany(i => new[] { (string?)i.Element("Label"), (string?)i.Element("PropertyName") })
                    .OfType<string>()
                    .ToHashSet(StringComparer.Ordinal);
                views.Add(new View(name, typeName, null, false, items));
            }
        }

        return views;
    }
}
