using System.Management.Automation;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>Remove-DistAccessKey: a removed key is refused from that moment; what it did stays in the audit log.</summary>
[Cmdlet(VerbsCommon.Remove, "DistAccessKey", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(void))]
public sealed class RemoveDistAccessKeyCommand : DistCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(AccessKeyNameCompleter))]
    public string[] Name { get; set; } = [];

    protected override void ProcessRecord()
    {
        foreach (var name in Name)
        {
            if (ShouldProcess($"access key '{name}'", "Remove"))
            {
                TryRun(token => Services.AccessKeys.RemoveAsync(name, token), name);
            }
        }
    }
}
