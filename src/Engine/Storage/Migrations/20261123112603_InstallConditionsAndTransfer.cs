using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace JP1Dist.Engine.Storage.Migrations
{
    /// <inheritdoc />
    public partial class InstallConditionsAndTransfer : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<DateTime>(
                name: "InstallAt",
                table: "Targets",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "JobSettingsJson",
                table: "Targets",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "JobSettingsSignature",
                table: "Targets",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<int>(
                name: "SegmentsTransferred",
                table: "Targets",
                type: "INTEGER",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<DateTime>(
                name: "InstallAt",
                table: "Packages",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "InstallConditionsJson",
                table: "Packages",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<int>(
                name: "BandwidthLimitKBps",
                table: "Jobs",
                type: "INTEGER",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<DateTime>(
                name: "InstallAt",
                table: "Jobs",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "InstallConditionsJson",
                table: "Jobs",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<double>(
                name: "SegmentIntervalSeconds",
                table: "Jobs",
                type: "REAL",
                nullable: false,
                defaultValue: 0.0);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "InstallAt",
                table: "Targets");

            migrationBuilder.DropColumn(
                name: "JobSettingsJson",
                table: "Targets");

            migrationBuilder.DropColumn(
                name: "JobSettingsSignature",
                table: "Targets");

            migrationBuilder.DropColumn(
                name: "SegmentsTransferred",
                table: "Targets");

            migrationBuilder.DropColumn(
                name: "InstallAt",
                table: "Packages");

            migrationBuilder.DropColumn(
                name: "InstallConditionsJson",
                table: "Packages");

            migrationBuilder.DropColumn(
                name: "BandwidthLimitKBps",
                table: "Jobs");

            migrationBuilder.DropColumn(
                name: "InstallAt",
                table: "Jobs");

            migrationBuilder.DropColumn(
                name: "InstallConditionsJson",
                table: "Jobs");

            migrationBuilder.DropColumn(
                name: "SegmentIntervalSeconds",
                table: "Jobs");
        }
    }
}
