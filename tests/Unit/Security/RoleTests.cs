using System.Text.RegularExpressions;
using JP1Dist.Contracts;
using JP1Dist.Core.Security;
using JP1Dist.Protocol;
using JP1Dist.Tests.Engine;
using Microsoft.EntityFrameworkCore;
using Xunit;

namespace JP1Dist.Tests.Security;

/// <summary>
/// Roles: the one table of which role each operation needs (every cmdlet of the module in it, by the issue's rule), and the
/// engine refusing a caller below it with PermissionDenied naming the role needed, changing nothing but recording the refusal.
/// </summary>
public sealed partial class RoleTests : IDisposable
{
    private static readonly string[] JobControls = ["Start-DistJob", "Restart-DistJob", "Suspend-DistJob", "Resume-DistJob", "Stop-DistJob", "Start-DistHost", "Stop-DistHost"];

    private readonly TestFolder _folder = new();

    /// <summary>The cmdlets the module manifest exports.</summary>
    private static List<string> ExportedCmdlets()
    {
        var manifest = File.ReadAllText(Path.Combine(Repository.Root, "JP1Dist.psd1"));
        var list = CmdletsToExport().Match(manifest);
        Assert.True(list.Success);
        return CmdletName().Matches(list.Groups[1].Value).Select(m => m.Groups[1].Value).ToList();
    }

    [GeneratedRegex(@"CmdletsToExport\s*=\s*@\(([^)]*)\)")]
    private static partial Regex CmdletsToExport();

    [GeneratedRegex(@"'([A-Za-z]+-[A-Za-z]+)'")]
    private static partial Regex CmdletName();

    [Fact]
    public void The_role_table_names_every_cmdlet_the_module_exports_with_the_role_the_issue_gives_it()
    {
        // The agent-side cmdlets talk to this computer's agent, never to a manager: they are not operations.
        var exported = ExportedCmdlets().Where(c => !DistOperations.AgentSide.Contains(c)).ToList();
        Assert.Equal(exported.Order(StringComparer.Ordinal), DistOperations.RequiredRoles.Keys.Order(StringComparer.Ordinal));
        foreach (var cmdlet in exported)
        {
            // Connect- and Disconnect-DistManager choose the manager of the session and change nothing on one.
            var expected = cmdlet.StartsWith("Get-", StringComparison.Ordinal) || cmdlet.StartsWith("Wait-", StringComparison.Ordinal)
                || cmdlet is "Connect-DistManager" or "Disconnect-DistManager" ? DistRole.Reader
                : JobControls.Contains(cmdlet) ? DistRole.Operator
                : DistRole.Administrator;
            Assert.True(expected == DistOperations.RequiredRole(cmdlet), $"{cmdlet} needs {DistOperations.RequiredRole(cmdlet)}, not {expected}");
        }
        // Each name constant is in the table, and the table holds nothing else.
        var constants = typeof(DistOperations).GetFields().Where(f => f.IsLiteral).Select(f => (string)f.GetRawConstantValue()!).ToList();
        Assert.Equal(constants.Order(StringComparer.Ordinal), DistOperations.RequiredRoles.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Roles_include_the_ones_below_and_an_unknown_operation_needs_an_administrator()
    {
        Assert.True(DistRole.Administrator.Allows("Start-DistJob"));
        Assert.True(DistRole.Operator.Allows("Get-DistAuditLog"));
        Assert.False(DistRole.Operator.Allows("Stop-DistManager"));
        Assert.False(DistRole.Reader.Allows("Stop-DistJob"));
        Assert.True(DistRole.Reader.Allows("get-distjob"));
        Assert.Equal(DistRole.Administrator, DistOperations.RequiredRole("Invoke-Something"));
        Assert.False(DistRole.Operator.Allows("Invoke-Something"));
    }

    [Fact]
    public void A_process_on_the_managers_computer_acts_as_its_operating_system_user_with_every_right()
    {
        var local = _folder.Engine.Caller;
        Assert.Equal(DistCaller.Local, local);
        Assert.Equal((DistRole.Administrator, "local"), (local.Role, local.Source));
        Assert.Equal(OperatingSystem.IsWindows() ? $@"{Environment.UserDomainName}\{Environment.UserName}" : Environment.UserName, local.Principal);
    }

    /// <summary>What a refusal must leave as it was: every table but the audit log.</summary>
    private async Task<string> StateAsync()
    {
        await using var db = _folder.Engine.Database.CreateContext();
        var parts = new List<object>
        {
            string.Join(",", await db.Packages.Select(p => p.Name + p.Version + p.ExpiresAt).ToListAsync()),
            string.Join(",", await db.Jobs.Select(j => j.Name + j.ExecutionCount).ToListAsync()),
            string.Join(",", await db.Targets.Select(t => t.Status + ":" + t.Attempt).ToListAsync()),
            string.Join(",", await db.Hosts.Select(h => h.Name).ToListAsync()),
            string.Join(",", await db.PendingEnrollments.Select(p => p.Name + p.ApprovedAt).ToListAsync()),
            string.Join(",", await db.EnrollmentTokens.Select(t => t.Id).ToListAsync()),
            string.Join(",", await db.HostGroups.Select(g => g.Name).ToListAsync()),
            string.Join(",", await db.HostGroupMembers.Select(m => m.HostId).ToListAsync()),
            string.Join(",", await db.IdGroups.Select(g => g.Name + g.PolicyJson).ToListAsync()),
            string.Join(",", await db.IdGroupMembers.Select(m => m.HostId).ToListAsync()),
            string.Join(",", await db.SigningKeys.Select(k => k.Fingerprint).ToListAsync()),
            string.Join(",", await db.AccessKeys.Select(k => k.Name + k.RemovedAt).ToListAsync()),
            string.Join(",", await db.RevokedCredentials.Select(r => r.HostId).ToListAsync()),
        };
        return string.Join("#", parts);
    }

    /// <summary>A state where every change of the scenario has something to act on: its package, groups, job, tokens and key exist.</summary>
    private async Task<ChangeScenario> PrepareEverythingAsync()
    {
        var scenario = new ChangeScenario(_folder);
        await scenario.PrepareAsync();
        var changes = scenario.Changes();
        foreach (var operation in new[] { DistOperations.NewPackage, DistOperations.NewHostGroup, DistOperations.NewIdGroup, DistOperations.NewJob, DistOperations.NewAccessKey })
        {
            await changes.Single(c => c.Operation == operation).Act(_folder.Engine);
        }
        return scenario;
    }

    [Fact]
    public async Task A_reader_reads_everything_and_every_change_is_refused_naming_the_role_it_needs_changing_nothing()
    {
        var scenario = await PrepareEverythingAsync();
        var reader = _folder.Engine.As(new DistCaller("auditor", "192.0.2.7", DistRole.Reader));
        Assert.Single(await reader.Packages.ListAsync());
        Assert.Single(await reader.Jobs.ListAsync());
        Assert.Equal(2, (await reader.Hosts.ListAsync(new HostQuery())).Count);
        Assert.NotEmpty(await reader.Hosts.ListEnrollmentTokensAsync());
        Assert.Single(await reader.AccessKeys.ListAsync());
        Assert.NotEmpty(await reader.Audit.ListAsync(new AuditQuery()));
        Assert.Single(await reader.SigningKeys.ListAsync());
        var before = await StateAsync();
        var changes = scenario.Changes();

        foreach (var change in changes)
        {
            var refused = await Assert.ThrowsAsync<DistException>(() => change.Act(reader));
            Assert.Equal(("PermissionDenied", DistErrorKind.Forbidden), (refused.ErrorId, refused.Kind));
            var needed = DistOperations.RequiredRole(change.Operation);
            Assert.Contains($"{change.Operation} needs the role {needed}", refused.Message, StringComparison.Ordinal);
            Assert.Contains("'auditor' has the role Reader", refused.Message, StringComparison.Ordinal);
        }
        Assert.Equal(before, await StateAsync());

        var denied = await _folder.Engine.Audit.ListAsync(new AuditQuery(Principal: "auditor"));
        Assert.Equal(changes.Select(c => c.Operation).Reverse(), denied.Select(e => e.Operation));
        Assert.All(denied, e => Assert.Equal((AuditOutcome.Denied, "192.0.2.7", "{}"), (e.Outcome, e.Source, e.Parameters)));
        Assert.Equal("Deploy", denied.Single(e => e.Operation == DistOperations.StopJob).Target);
    }

    [Fact]
    public async Task An_operator_executes_and_controls_jobs_and_defines_nothing()
    {
        var scenario = await PrepareEverythingAsync();
        var operatorServices = _folder.Engine.As(new DistCaller("night-shift", "192.0.2.8", DistRole.Operator));
        foreach (var change in scenario.Changes().Where(c => c.Operation is DistOperations.StartJob or DistOperations.SuspendJob or DistOperations.ResumeJob
                     or DistOperations.RestartJob or DistOperations.StopJob))
        {
            await change.Act(operatorServices);
        }
        Assert.Equal(["Stop-DistJob", "Restart-DistJob", "Resume-DistJob", "Suspend-DistJob", "Start-DistJob"],
            (await _folder.Engine.Audit.ListAsync(new AuditQuery(Principal: "night-shift"))).Select(e => e.Operation));

        var before = await StateAsync();
        foreach (var change in scenario.Changes().Where(c => DistOperations.RequiredRole(c.Operation) == DistRole.Administrator))
        {
            var refused = await Assert.ThrowsAsync<DistException>(() => change.Act(operatorServices));
            Assert.Equal("PermissionDenied", refused.ErrorId);
            Assert.Contains("needs the role Administrator", refused.Message, StringComparison.Ordinal);
        }
        Assert.Equal(before, await StateAsync());
    }

    [Fact]
    public async Task The_admin_API_can_refuse_a_request_before_its_body_is_read_and_the_refusal_is_recorded()
    {
        var reader = _folder.Engine.As(new DistCaller("auditor", "192.0.2.7", DistRole.Reader));
        await reader.Audit.RequireAsync(DistOperations.GetJobStatus, null); // allowed: nothing recorded
        var refused = await Assert.ThrowsAsync<DistException>(() => reader.Audit.RequireAsync(DistOperations.NewPackage, "Office@16.0"));
        Assert.Equal("PermissionDenied", refused.ErrorId);
        var entry = Assert.Single(await reader.Audit.ListAsync(new AuditQuery()));
        Assert.Equal((DistOperations.NewPackage, "Office@16.0", AuditOutcome.Denied), (entry.Operation, entry.Target, entry.Outcome));
    }

    [Fact]
    public async Task A_caller_made_from_another_callers_services_still_acts_for_the_folder_alone()
    {
        var reader = _folder.Engine.As(new DistCaller("auditor", "192.0.2.7", DistRole.Reader));
        var fromReader = reader.As(new DistCaller("admin-key", "192.0.2.9", DistRole.Administrator));
        await fromReader.HostGroups.CreateAsync("G", null);
        var entry = Assert.Single(await reader.Audit.ListAsync(new AuditQuery()));
        Assert.Equal(("admin-key", "192.0.2.9"), (entry.Principal, entry.Source));
        Assert.Equal(DistCaller.Local, _folder.Engine.Caller); // the folder's engine is not changed by its views
    }

    public void Dispose() => _folder.Dispose();
}
