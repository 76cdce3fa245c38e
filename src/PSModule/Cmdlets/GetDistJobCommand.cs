using System.Management.Automation;
using JP1Dist.Contracts;
using JP1Dist.Protocol;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>Get-DistJob: lists saved jobs, filtered by name (wildcards).</summary>
[Cmdlet(VerbsCommon.Get, "DistJob")]
[OutputType(typeof(DistJob))]
public sealed class GetDistJobCommand : DistCmdlet
{
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("JobName", "Job")]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(JobNameCompleter))]
    public string[]? Name { get; set; }

    protected override void ProcessRecord() =>
        WriteMatches(Name, (pattern, token) => Services.Jobs.ListAsync(pattern, token), j => j.Name.ToUpperInvariant(),
            "JobNotFound", name => $"No job named '{name}' exists.");
}
