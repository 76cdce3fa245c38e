using JP1Dist.Contracts;
using JP1Dist.Core.Distribution;
using System.Text.Json;
using JP1Dist.Protocol;

namespace JP1Dist.Tests.Engine;

/// <summary>One change through the services: the operation and target its audit entry must name, and the call.</summary>
public sealed record ScenarioChange(string Operation, string Target, Func<IDistServices, Task> Act);

/// <summary>
/// Every change the services offer, once each, in an order in which each succeeds: packages, tokens, hosts (approval,
/// denial, removal), host and ID groups, a job through all its controls (a target fails in between, as an agent reports it,
/// so that it can be re-executed), the signing key and access keys. Starting and stopping a manager process is not here
/// (Audit.Tests.ps1 covers it). What agents do (registration, reports) runs on the folder's own engine, not as a change.
/// </summary>
public sealed class ChangeScenario(TestFolder folder)
{
    /// <summary>Operations a unit scenario cannot perform: they start and stop a manager process.</summary>
    public static readonly string[] ProcessOperations = [DistOperations.StartManager, DistOperations.StopManager];

    /// <summary>Every secret the scenario and its preparation handed out: token texts and their secrets, credentials, access keys.</summary>
    public List<string> Secrets { get; } = [];

    private Guid _hostA;
    private string _approvalToken = "";

    /// <summary>Registers pc-a, pc-b and two hosts waiting for approval, and writes the package folder (not changes of the scenario).</summary>
    public async Task PrepareAsync()
    {
        folder.WriteFile("pkg/setup.sh", "exit 0");
        _hostA = (await RegisterAsync("pc-a", null)).HostId;
        await RegisterAsync("pc-b", null);
        _approvalToken = (await folder.Engine.Hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("approval", RequireApproval: true))).Token!;
        Keep(_approvalToken);
        await RegisterAsync("pc-waiting", _approvalToken);
        await RegisterAsync("pc-intruder", _approvalToken);
    }

    private async Task<RegisterResponse> RegisterAsync(string name, string? token)
    {
        token ??= (await folder.Engine.Hosts.NewEnrollmentTokenAsync("hosts")).Token!;
        Keep(token);
        var registered = await folder.Engine.Hosts.RegisterAsync(new RegisterRequest(token, name, "Linux", "6.1", "X64", ["10.0.0.7"], null, "1.0"));
        Secrets.Add(registered.Credential);
        return registered;
    }

    /// <summary>A token's text and its secret part.</summary>
    private void Keep(string tokenText)
    {
        Secrets.Add(tokenText);
        Secrets.Add(tokenText.Split('.')[0]);
    }

    /// <summary>The changes, in order; each one's Act runs on the services of the caller under test.</summary>
    public IReadOnlyList<ScenarioChange> Changes()
    {
        var distribution = new DistributionService(folder.Engine, new HostSignals());
        var package = Path.Combine(folder.Root, "pkg");
        int tokenId = 0;
        OfflineMediaDescription? media = null;
        return
        [
            new(DistOperations.NewPackage, "App@1.0", s => s.Packages.CreateAsync(new NewPackageRequest("App", "1.0", package, "setup.sh"), null)),
            new(DistOperations.SetPackage, "App@1.0", s => s.Packages.SetExpiryAsync("app", "1.0", DateTime.Now.AddDays(30))),
            new(DistOperations.NewEnrollmentToken, "*", async s =>
            {
                var token = await s.Hosts.NewEnrollmentTokenAsync(new NewEnrollmentTokenRequest("branch", MaxUses: 5));
                tokenId = token.Id;
                Keep(token.Token!);
            }),
            new(DistOperations.RemoveEnrollmentToken, "*", s => s.Hosts.RemoveEnrollmentTokenAsync(tokenId)),
            new(DistOperations.ApproveHost, "pc-waiting", s => s.Hosts.ApproveAsync("PC-WAITING", replace: false)),
            new(DistOperations.DenyHost, "pc-intruder", s => s.Hosts.DenyAsync("pc-intruder")),
            // pc-a reported no MAC address: nothing goes on the network.
            new(DistOperations.StartHost, "pc-a", s => s.Hosts.WakeAsync(new WakeHostsRequest("pc-a"))),
            new(DistOperations.StopHost, "pc-*", s => s.Hosts.StopAsync(new StopHostsRequest("pc-*", 30))),
            new(DistOperations.NewHostGroup, "Sales", s => s.HostGroups.CreateAsync("Sales", "sales floor")),
            new(DistOperations.AddHostGroupMember, "Sales", s => s.HostGroups.AddMembersAsync("sales", ["pc-a", "pc-b"], null)),
            new(DistOperations.RemoveHostGroupMember, "Sales", s => s.HostGroups.RemoveMembersAsync("Sales", ["pc-b"], null)),
            new(DistOperations.NewIdGroup, "ID_NEW", s => s.IdGroups.CreateAsync("ID_NEW", null)),
            new(DistOperations.AddIdGroupMember, "ID_NEW", s => s.IdGroups.AddMembersAsync("ID_NEW", ["pc-a"])),
            new(DistOperations.RemoveIdGroupMember, "ID_NEW", s => s.IdGroups.RemoveMembersAsync("ID_NEW", ["pc-a"])),
            new(DistOperations.SetIdGroupPolicy, "ID_NEW", s => s.IdGroups.SetPolicyAsync("ID_NEW", [new Dictionary<string, IReadOnlyList<string>> { ["HostName"] = ["NEW-*"] }])),
            new(DistOperations.NewJob, "Deploy", s => s.Jobs.CreateAsync(new NewJobRequest("Deploy", "App", "1.0", ["pc-a", "pc-b"], Description: "rollout"))),
            new(DistOperations.StartJob, "Deploy", s => s.Jobs.StartAsync("deploy")),
            new(DistOperations.SuspendJob, "Deploy", s => s.Jobs.ControlAsync("Deploy", ["pc-a"], JobControlAction.Suspend)),
            new(DistOperations.ResumeJob, "Deploy", async s =>
            {
                await s.Jobs.ControlAsync("Deploy", null, JobControlAction.Resume);
                // The manager dispatches, and pc-a's agent reports a failure: something to re-execute.
                await distribution.DispatchAsync(await LastExecutionAsync(), default);
                var item = (await distribution.GetWorkAsync(_hostA, default)).Single();
                await distribution.ReportAsync(_hostA, new ReportRequest(item.WorkItemId, "Failed", 3, "exit 3"), default);
            }),
            new(DistOperations.RestartJob, "Deploy", async s =>
            {
                await s.Jobs.RestartAsync("Deploy", ["pc-a"]);
                await distribution.DispatchAsync(await LastExecutionAsync(), default);
            }),
            // pc-a's new attempt travels on offline media, and its signed result comes back.
            new(DistOperations.ExportOfflineMedia, "Deploy/pc-a", async s =>
            {
                media = JsonSerializer.Deserialize<OfflineMediaDescription>((await s.Offline.ExportAsync("Deploy", "pc-a")).Description, ProtocolJson.Options)!;
                Secrets.Add(media.ResultKey);
            }),
            new(DistOperations.ImportOfflineResult, "Deploy/pc-a", async s =>
            {
                if (media is null)
                {
                    // A caller that could not export: the import is refused for its role before anything is read.
                    await s.Offline.ImportResultAsync(new OfflineResultUpload("{}", ""));
                    return;
                }
                var result = new OfflineResult(OfflineMediaFiles.Format, media.MediaId, media.HostId, media.Work.WorkItemId, "pc-a", "Succeeded", 0, "installed", null,
                    DateTime.UtcNow, DateTime.UtcNow, null);
                var bytes = JsonSerializer.SerializeToUtf8Bytes(result, ProtocolJson.Options);
                await s.Offline.ImportResultAsync(new OfflineResultUpload(System.Text.Encoding.UTF8.GetString(bytes), OfflineMediaFiles.Sign(bytes, media.ResultKey)));
            }),
            new(DistOperations.StopJob, "Deploy", s => s.Jobs.ControlAsync("Deploy", null, JobControlAction.Cancel)),
            new(DistOperations.RemoveJob, "Deploy", s => s.Jobs.RemoveAsync("Deploy", force: false)),
            new(DistOperations.RemoveHost, "pc-b", s => s.Hosts.RemoveAsync("pc-b", force: false, revoke: true)),
            new(DistOperations.RemoveHostGroup, "Sales", s => s.HostGroups.RemoveAsync("Sales")),
            new(DistOperations.RemoveIdGroup, "ID_NEW", s => s.IdGroups.RemoveAsync("ID_NEW")),
            new(DistOperations.UpdateSigningKey, "*", s => s.SigningKeys.RotateAsync(TimeSpan.FromDays(14))),
            new(DistOperations.NewAccessKey, "deploy-bot", async s =>
            {
                var key = (await s.AccessKeys.CreateAsync(new NewAccessKeyRequest("deploy-bot", DistRole.Operator, TimeSpan.FromDays(30)))).Key!;
                Secrets.Add(key);
                Secrets.Add(key.Split('.')[2]);
            }),
            new(DistOperations.RemoveAccessKey, "deploy-bot", s => s.AccessKeys.RemoveAsync("Deploy-Bot")),
            new(DistOperations.RemovePackage, "App@1.0", s => s.Packages.RemoveAsync("App", "1.0", force: false)),
        ];
    }

    private async Task<int> LastExecutionAsync()
    {
        await using var db = folder.Engine.Database.CreateContext();
        return db.JobExecutions.Max(x => x.Id);
    }
}
