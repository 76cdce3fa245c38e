using System.Management.Automation;
using JP1Dist.Contracts;
using JP1Dist.Protocol;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>
/// Import-DistOfflineResult: records the result an offline install wrote into its media (<c>jp1dist offline</c>) at the
/// manager, as the host's own report would be, with its inventory; each media's result once. Outputs the target's status.
/// </summary>
[Cmdlet(VerbsData.Import, "DistOfflineResult", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(DistJobStatus))]
public sealed class ImportDistOfflineResultCommand : DistCmdlet
{
    /// <summary>The media folder (holding result.json and result.sig), or the result.json file itself.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName")]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    /// <summary>Writes the changed target (its status object); without it the cmdlet writes nothing.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        var given = GetUnresolvedProviderPathFromPSPath(Path);
        var folder = File.Exists(given) ? System.IO.Path.GetDirectoryName(given)! : given;
        var resultPath = System.IO.Path.Combine(folder, OfflineMediaFiles.Result);
        var signaturePath = System.IO.Path.Combine(folder, OfflineMediaFiles.ResultSignature);
        if (!File.Exists(resultPath) || !File.Exists(signaturePath))
        {
            ThrowInvalidArgument("OfflineResultMissing",
                $"'{folder}' holds no offline result ({OfflineMediaFiles.Result} and {OfflineMediaFiles.ResultSignature}); run 'jp1dist offline --media' with these media first.", given);
        }
        if (new FileInfo(resultPath).Length > OfflineMediaFiles.MaxJsonBytes)
        {
            ThrowInvalidArgument("OfflineResultInvalid", $"{resultPath} is larger than {OfflineMediaFiles.MaxJsonBytes} bytes.", given);
        }
        if (!ShouldProcess($"offline result in '{folder}'", "Import"))
        {
            return;
        }
        var upload = new OfflineResultUpload(File.ReadAllText(resultPath), File.ReadAllText(signaturePath).Trim());
        // One result of many (a folder of returned media): a refused one is a non-terminating error and the others go on.
        DistJobStatus? status = null;
        if (TryRun(async token => status = await Services.Offline.ImportResultAsync(upload, token), given) && PassThru)
        {
            WriteObject(status);
        }
    }
}
