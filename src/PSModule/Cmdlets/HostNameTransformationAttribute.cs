using System.Collections;
using System.Management.Automation;
using JP1Dist.Contracts;
using JP1Dist.Protocol;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>Lets a destination be given as a name or as a host, host group or ID group object from the Get- cmdlets.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class HostNameTransformationAttribute : ArgumentTransformationAttribute
{
    public override object Transform(EngineIntrinsics engineIntrinsics, object inputData)
    {
        if (inputData is IEnumerable items and not string)
        {
            return items.Cast<object>().Select(ToName).ToArray();
        }
        return ToName(inputData);
    }

    private static object ToName(object item) => (item is PSObject wrapper ? wrapper.BaseObject : item) switch
    {
        DistHost host => host.Name,
        DistJobStatus status => status.HostName,
        DistHostGroup group => group.Name,
        DistIdGroup group => group.Name,
        DistInventory inventory => inventory.HostName,
        DistSoftware software => software.HostName,
        var other => other,
    };
}
