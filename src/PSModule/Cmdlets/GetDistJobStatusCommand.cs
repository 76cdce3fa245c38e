using System.Management.Automation;
using JP1Dist.Contracts;
using JP1Dist.Protocol;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>Get-DistJobStatus: one object per (job, host) with its state, exit code, message and attempt.</summary>
[Cmdlet(VerbsCommon.Get, "DistJobStatus")]
[OutputType(typeof(DistJobStatus))]
public sealed class GetDistJobStatusCommand : DistCmdlet
{
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("JobName")]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(JobNameCompleter))]
    public string[]? Job { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("ComputerName")]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(HostNameCompleter))]
    public string[]? HostName { get; set; }

    [Parameter]
    public TargetStatus[]? Status { get; set; }

    protected override void ProcessRecord()
    {
        // A job named exactly that does not exist is a non-terminating JobNotFound (the engine says so), as for Get-DistJob;
        // once per job, however many hosts were named. Rows are written as they are read (a job of 100,000 targets is never
        // held whole): only when several names could select the same target does the cmdlet remember what it wrote, and it
        // remembers only the hosts named exactly, for the not-found rule of -HostName.
        var overlapping = (Job?.Length ?? 1) * (HostName?.Length ?? 1) > 1;
        var written = overlapping ? new HashSet<(string, string)>() : null;
        var exactHosts = (HostName ?? []).Where(h => !WildcardPattern.ContainsWildcardCharacters(h)).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var hostsSeen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var anyJobFound = false;
        foreach (var job in Job ?? [null!])
        {
            var jobFound = true;
            foreach (var host in HostName ?? [null!])
            {
                var query = new JobStatusQuery(job, host, Status);
                var notFound = false;
                var count = 0;
                foreach (var status in StreamOrNotFound(token => Services.Jobs.StreamStatusAsync(query, token), job, () => notFound = true))
                {
                    count++;
                    if (exactHosts.Contains(status.HostName))
                    {
                        hostsSeen.Add(status.HostName);
                    }
                    if (written is null || written.Add((status.JobName.ToUpperInvariant(), status.HostName.ToUpperInvariant())))
                    {
                        WriteObject(status);
                    }
                }
                if (notFound)
                {
                    jobFound = false;
                    break;
                }
                if (count == 0 && Status is { Length: > 0 } && host is not null && !WildcardPattern.ContainsWildcardCharacters(host) &&
                    Run(token => Services.Jobs.GetStatusAsync(new JobStatusQuery(job, host), token), host).Count > 0)
                {
                    // The host has a target, in another state than -Status asks for: filtered out, not missing.
                    hostsSeen.Add(host);
                }
            }
            anyJobFound |= jobFound;
        }
        if (anyJobFound)
        {
            WriteHostsNotFound(hostsSeen);
        }
    }

    /// <summary>
    /// The not-found rule for -HostName: an exact host name that no status answered is a non-terminating ObjectNotFound
    /// naming the host (HostNotFound when no host has that name, HostNotInJob when it is no destination of the jobs asked
    /// for); a pattern that matched nothing, or a host that has no target when no job was named, is just an empty result.
    /// </summary>
    private void WriteHostsNotFound(HashSet<string> hostsSeen)
    {
        foreach (var host in (HostName ?? []).Distinct(StringComparer.OrdinalIgnoreCase))
        {
            if (WildcardPattern.ContainsWildcardCharacters(host) || hostsSeen.Contains(host))
            {
                continue;
            }
            var registered = Run(token => Services.Hosts.ListAsync(new HostQuery(host), token), host).Count > 0;
            if (!registered)
            {
                WriteNotFoundUnlessWildcard(host, 0, "HostNotFound", $"No host named '{host}' exists.");
            }
            else if (Job is not null)
            {
                WriteNotFoundUnlessWildcard(host, 0, "HostNotInJob", $"Host '{host}' is not a destination of job {string.Join(", ", Job.Select(j => $"'{j}'"))}.");
            }
        }
    }
}
