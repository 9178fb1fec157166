//! The MPD model (ISO/IEC 23009-1 5th edition + Amd 1 schema, plus `ContentSteering`).
//!
//! One struct per schema type, public fields, `Default` for everything. Attribute fields are
//! `Option<T>` unless the schema makes them required; child element fields are `Option<T>`
//! or `Vec<T>` and are declared (and therefore written) in the schema's `xs:sequence` order.
//! Elements shared by several parents use one type: [`Descriptor`] for `Role`,
//! `EssentialProperty`, `UTCTiming`, ...; [`Url`] for `Initialization` /
//! `RepresentationIndex`; [`EventStream`] for `EventStream` / `InbandEventStream`;
//! [`Label`] for `Label` / `GroupLabel`. The attributes and elements common to
//! AdaptationSet, Representation and SubRepresentation live in [`RepresentationBase`]
//! (field `common`). Anything unknown is kept in each element's `extra`.

use crate::values::{DateTime, FrameRate, IsoDuration, PresentationType, Ratio};
use crate::xml::{self, dash_element, Cursor, ToXml, XmlElement, XmlNode};
use crate::ManifestError;

/// Profile of the product's own MPDs (`urn:mpeg:dash:profile:isoff-live:2011`).
pub const PROFILE_ISOFF_LIVE: &str = "urn:mpeg:dash:profile:isoff-live:2011";
/// The on-demand profile (`urn:mpeg:dash:profile:isoff-on-demand:2011`).
pub const PROFILE_ISOFF_ON_DEMAND: &str = "urn:mpeg:dash:profile:isoff-on-demand:2011";
/// `AudioChannelConfiguration@schemeIdUri` for MPEG channel configuration values.
pub const AUDIO_CHANNEL_CONFIGURATION_SCHEME: &str =
    "urn:mpeg:dash:23003:3:audio_channel_configuration:2011";
/// `Role@schemeIdUri` of the DASH role scheme (`main`, `alternate`, ...).
pub const ROLE_SCHEME: &str = "urn:mpeg:dash:role:2011";

dash_element! {
    /// The root `<MPD>` element.
    element Mpd {
        attr id: Option<String> = "id";
        attr /// Comma-separated profile URNs (required).
            profiles: String = "profiles";
        attr /// `static` or `dynamic`; absent means static.
            mpd_type: Option<PresentationType> = "type";
        attr availability_start_time: Option<DateTime> = "availabilityStartTime";
        attr availability_end_time: Option<DateTime> = "availabilityEndTime";
        attr publish_time: Option<DateTime> = "publishTime";
        attr media_presentation_duration: Option<IsoDuration> = "mediaPresentationDuration";
        attr minimum_update_period: Option<IsoDuration> = "minimumUpdatePeriod";
        attr /// Required.
            min_buffer_time: IsoDuration = "minBufferTime";
        attr time_shift_buffer_depth: Option<IsoDuration> = "timeShiftBufferDepth";
        attr suggested_presentation_delay: Option<IsoDuration> = "suggestedPresentationDelay";
        attr max_segment_duration: Option<IsoDuration> = "maxSegmentDuration";
        attr max_subsegment_duration: Option<IsoDuration> = "maxSubsegmentDuration";
        child program_information: Vec<ProgramInformation> = "ProgramInformation";
        child base_urls: Vec<BaseUrl> = "BaseURL";
        child locations: Vec<String> = "Location";
        child patch_locations: Vec<PatchLocation> = "PatchLocation";
        child service_descriptions: Vec<ServiceDescription> = "ServiceDescription";
        child initialization_sets: Vec<InitializationSet> = "InitializationSet";
        child initialization_groups: Vec<UIntVWithId> = "InitializationGroup";
        child initialization_presentations: Vec<UIntVWithId> = "InitializationPresentation";
        child content_protections: Vec<ContentProtection> = "ContentProtection";
        child periods: Vec<Period> = "Period";
        child metrics: Vec<Metrics> = "Metrics";
        child essential_properties: Vec<Descriptor> = "EssentialProperty";
        child supplemental_properties: Vec<Descriptor> = "SupplementalProperty";
        child utc_timings: Vec<Descriptor> = "UTCTiming";
        child leap_second_information: Option<LeapSecondInformation> = "LeapSecondInformation";
        child /// Not in the 5th-edition schema; written last (its 6th-edition place), so a
            /// strict 5th-edition validator rejects MPDs that carry it.
            content_steering: Option<ContentSteering> = "ContentSteering";
    }
}

dash_element! {
    /// `<ProgramInformation>`: title, source, copyright of the presentation.
    element ProgramInformation {
        attr lang: Option<String> = "lang";
        attr more_information_url: Option<String> = "moreInformationURL";
        child title: Option<String> = "Title";
        child source: Option<String> = "Source";
        child copyright: Option<String> = "Copyright";
    }
}

dash_element! {
    /// `<BaseURL>`: a base URL (text) with its attributes. One per edge/CDN with
    /// `serviceLocation` for content steering.
    element BaseUrl {
        attr service_location: Option<String> = "serviceLocation";
        attr byte_range: Option<String> = "byteRange";
        attr availability_time_offset: Option<f64> = "availabilityTimeOffset";
        attr availability_time_complete: Option<bool> = "availabilityTimeComplete";
        attr time_shift_buffer_depth: Option<IsoDuration> = "timeShiftBufferDepth";
        attr range_access: Option<bool> = "rangeAccess";
        text /// The URL.
            url;
    }
}

impl BaseUrl {
    /// A plain `<BaseURL>` with a URL.
    pub fn new(url: impl Into<String>) -> Self {
        BaseUrl {
            url: url.into(),
            ..Default::default()
        }
    }

    /// A `<BaseURL serviceLocation="...">` (one per CDN / edge for content steering).
    pub fn with_service_location(url: impl Into<String>, location: impl Into<String>) -> Self {
        BaseUrl {
            url: url.into(),
            service_location: Some(location.into()),
            ..Default::default()
        }
    }
}

dash_element! {
    /// `<PatchLocation>`: where MPD patches are fetched (text = URL).
    element PatchLocation {
        attr ttl: Option<f64> = "ttl";
        text /// The URL.
            url;
    }
}

dash_element! {
    /// `<ContentSteering>` (DASH-IF content steering / 23009-1 6th edition): where the
    /// steering server is and which `serviceLocation` to start with.
    element ContentSteering {
        attr /// Space-separated `serviceLocation` values to use before steering answers.
            default_service_location: Option<String> = "defaultServiceLocation";
        attr query_before_start: Option<bool> = "queryBeforeStart";
        attr proxy_server_url: Option<String> = "proxyServerURL";
        text /// The steering server URL.
            url;
    }
}

dash_element! {
    /// A `DescriptorType` element: `Role`, `Accessibility`, `Rating`, `Viewpoint`,
    /// `EssentialProperty`, `SupplementalProperty`, `UTCTiming`, `AudioChannelConfiguration`,
    /// `FramePacking`, `OutputProtection`, `AssetIdentifier`, `Scope`, `Reporting`.
    element Descriptor {
        attr /// Required.
            scheme_id_uri: String = "schemeIdUri";
        attr value: Option<String> = "value";
        attr id: Option<String> = "id";
    }
}

impl Descriptor {
    /// `<AudioChannelConfiguration>` with the MPEG scheme and a channel count.
    pub fn audio_channels(channels: u32) -> Self {
        Descriptor::new(AUDIO_CHANNEL_CONFIGURATION_SCHEME, channels.to_string())
    }

    /// A descriptor with a scheme and a value.
    pub fn new(scheme_id_uri: impl Into<String>, value: impl Into<String>) -> Self {
        Descriptor {
            scheme_id_uri: scheme_id_uri.into(),
            value: Some(value.into()),
            ..Default::default()
        }
    }
}

dash_element! {
    /// `<ContentProtection>`: a DRM / encryption descriptor. DRM-specific children
    /// (`cenc:pssh`, `mspr:pro`, ...) are kept in `extra.children`.
    element ContentProtection {
        attr /// Required.
            scheme_id_uri: String = "schemeIdUri";
        attr value: Option<String> = "value";
        attr id: Option<String> = "id";
        attr robustness: Option<String> = "robustness";
        attr ref_id: Option<String> = "refId";
        attr reference: Option<String> = "ref";
        attr /// The default key ID (`cenc:default_KID`).
            default_kid: Option<String> = "cenc:default_KID";
    }
}

impl ContentProtection {
    /// Text of the `cenc:pssh` child, if any.
    pub fn pssh(&self) -> Option<String> {
        self.extra.elements("pssh").next().map(XmlElement::text)
    }
}

dash_element! {
    /// `<Label>` or `<GroupLabel>`: a text label.
    element Label {
        attr id: Option<u32> = "id";
        attr lang: Option<String> = "lang";
        text /// The label text.
            text;
    }
}

dash_element! {
    /// `UIntVWithIDType` (`InitializationGroup`, `InitializationPresentation`).
    element UIntVWithId {
        attr id: u32 = "id";
        attr profiles: Option<String> = "profiles";
        attr content_type: Option<String> = "contentType";
        text /// Whitespace-separated unsigned integers.
            values;
    }
}

dash_element! {
    /// `<Period>`: a time span of the presentation.
    element Period {
        attr xlink_href: Option<String> = "xlink:href";
        attr xlink_actuate: Option<String> = "xlink:actuate";
        attr xlink_type: Option<String> = "xlink:type";
        attr xlink_show: Option<String> = "xlink:show";
        attr id: Option<String> = "id";
        attr start: Option<IsoDuration> = "start";
        attr duration: Option<IsoDuration> = "duration";
        attr bitstream_switching: Option<bool> = "bitstreamSwitching";
        child base_urls: Vec<BaseUrl> = "BaseURL";
        child segment_base: Option<SegmentBase> = "SegmentBase";
        child segment_list: Option<SegmentList> = "SegmentList";
        child segment_template: Option<SegmentTemplate> = "SegmentTemplate";
        child asset_identifier: Option<Descriptor> = "AssetIdentifier";
        child event_streams: Vec<EventStream> = "EventStream";
        child service_descriptions: Vec<ServiceDescription> = "ServiceDescription";
        child content_protections: Vec<ContentProtection> = "ContentProtection";
        child adaptation_sets: Vec<AdaptationSet> = "AdaptationSet";
        child subsets: Vec<Subset> = "Subset";
        child supplemental_properties: Vec<Descriptor> = "SupplementalProperty";
        child empty_adaptation_sets: Vec<AdaptationSet> = "EmptyAdaptationSet";
        child group_labels: Vec<Label> = "GroupLabel";
        child preselections: Vec<Preselection> = "Preselection";
    }
}

dash_element! {
    /// `<EventStream>` (in a Period) or `<InbandEventStream>` (in a Representation base).
    element EventStream {
        attr xlink_href: Option<String> = "xlink:href";
        attr xlink_actuate: Option<String> = "xlink:actuate";
        attr xlink_type: Option<String> = "xlink:type";
        attr xlink_show: Option<String> = "xlink:show";
        attr /// Required.
            scheme_id_uri: String = "schemeIdUri";
        attr value: Option<String> = "value";
        attr timescale: Option<u32> = "timescale";
        attr presentation_time_offset: Option<u64> = "presentationTimeOffset";
        child events: Vec<Event> = "Event";
    }
}

dash_element! {
    /// `<Event>`: mixed content; its text and children (`SelectionInfo`, `scte35:Signal`,
    /// ...) are kept in `extra.children`.
    element Event {
        attr presentation_time: Option<u64> = "presentationTime";
        attr duration: Option<u64> = "duration";
        attr id: Option<u64> = "id";
        attr content_encoding: Option<String> = "contentEncoding";
        attr message_data: Option<String> = "messageData";
    }
}

impl Event {
    /// The event's text payload (e.g. a URL), trimmed.
    pub fn text(&self) -> String {
        XmlElement {
            children: self.extra.children.clone(),
            ..Default::default()
        }
        .text()
    }
}

dash_element! {
    /// `<ServiceDescription>`: latency / playback-rate targets for players.
    element ServiceDescription {
        attr id: Option<u32> = "id";
        child scopes: Vec<Descriptor> = "Scope";
        child latencies: Vec<Latency> = "Latency";
        child playback_rates: Vec<PlaybackRate> = "PlaybackRate";
        child operating_qualities: Vec<OperatingQuality> = "OperatingQuality";
        child operating_bandwidths: Vec<OperatingBandwidth> = "OperatingBandwidth";
    }
}

dash_element! {
    /// `<Latency>` of a service description (milliseconds).
    element Latency {
        attr reference_id: Option<u32> = "referenceId";
        attr target: Option<u32> = "target";
        attr max: Option<u32> = "max";
        attr min: Option<u32> = "min";
        child quality_latencies: Vec<UIntPairsWithId> = "QualityLatency";
    }
}

dash_element! {
    /// `UIntPairsWithIDType` (`QualityLatency`).
    element UIntPairsWithId {
        attr pair_type: Option<String> = "type";
        text /// Whitespace-separated unsigned integers.
            values;
    }
}

dash_element! {
    /// `<PlaybackRate>` of a service description.
    element PlaybackRate {
        attr max: Option<f64> = "max";
        attr min: Option<f64> = "min";
    }
}

dash_element! {
    /// `<OperatingQuality>` of a service description.
    element OperatingQuality {
        attr media_type: Option<String> = "mediaType";
        attr min: Option<u32> = "min";
        attr max: Option<u32> = "max";
        attr target: Option<u32> = "target";
        attr quality_type: Option<String> = "type";
        attr max_difference: Option<u32> = "maxDifference";
    }
}

dash_element! {
    /// `<OperatingBandwidth>` of a service description.
    element OperatingBandwidth {
        attr media_type: Option<String> = "mediaType";
        attr min: Option<u32> = "min";
        attr max: Option<u32> = "max";
        attr target: Option<u32> = "target";
    }
}

dash_element! {
    /// `<InitializationSet>`.
    element InitializationSet {
        base /// Common attributes and elements.
            common: RepresentationBase;
        attr xlink_href: Option<String> = "xlink:href";
        attr xlink_actuate: Option<String> = "xlink:actuate";
        attr xlink_type: Option<String> = "xlink:type";
        attr id: u32 = "id";
        attr in_all_periods: Option<bool> = "inAllPeriods";
        attr content_type: Option<String> = "contentType";
        attr par: Option<Ratio> = "par";
        attr max_width: Option<u32> = "maxWidth";
        attr max_height: Option<u32> = "maxHeight";
        attr max_frame_rate: Option<FrameRate> = "maxFrameRate";
        attr initialization: Option<String> = "initialization";
        child accessibilities: Vec<Descriptor> = "Accessibility";
        child roles: Vec<Descriptor> = "Role";
        child ratings: Vec<Descriptor> = "Rating";
        child viewpoints: Vec<Descriptor> = "Viewpoint";
    }
}

dash_element! {
    /// `RepresentationBaseType`: the attributes and elements common to AdaptationSet,
    /// Representation, SubRepresentation, Preselection and InitializationSet.
    part RepresentationBase {
        attr profiles: Option<String> = "profiles";
        attr width: Option<u32> = "width";
        attr height: Option<u32> = "height";
        attr sar: Option<Ratio> = "sar";
        attr frame_rate: Option<FrameRate> = "frameRate";
        attr /// One or two sampling rates (`48000`, `44100 48000`).
            audio_sampling_rate: Option<Vec<u32>> = "audioSamplingRate";
        attr mime_type: Option<String> = "mimeType";
        attr segment_profiles: Option<String> = "segmentProfiles";
        attr codecs: Option<String> = "codecs";
        attr container_profiles: Option<String> = "containerProfiles";
        attr maximum_sap_period: Option<f64> = "maximumSAPPeriod";
        attr start_with_sap: Option<u32> = "startWithSAP";
        attr max_playout_rate: Option<f64> = "maxPlayoutRate";
        attr coding_dependency: Option<bool> = "codingDependency";
        attr scan_type: Option<String> = "scanType";
        attr selection_priority: Option<u32> = "selectionPriority";
        attr tag: Option<String> = "tag";
        child frame_packings: Vec<Descriptor> = "FramePacking";
        child audio_channel_configurations: Vec<Descriptor> = "AudioChannelConfiguration";
        child content_protections: Vec<ContentProtection> = "ContentProtection";
        child output_protection: Option<Descriptor> = "OutputProtection";
        child essential_properties: Vec<Descriptor> = "EssentialProperty";
        child supplemental_properties: Vec<Descriptor> = "SupplementalProperty";
        child inband_event_streams: Vec<EventStream> = "InbandEventStream";
        child switchings: Vec<Switching> = "Switching";
        child random_accesses: Vec<RandomAccess> = "RandomAccess";
        child group_labels: Vec<Label> = "GroupLabel";
        child labels: Vec<Label> = "Label";
        child producer_reference_times: Vec<ProducerReferenceTime> = "ProducerReferenceTime";
        child content_popularity_rates: Vec<ContentPopularityRate> = "ContentPopularityRate";
        child resyncs: Vec<Resync> = "Resync";
    }
}

dash_element! {
    /// `<AdaptationSet>` (also used for `<EmptyAdaptationSet>`): interchangeable
    /// Representations of one content component.
    element AdaptationSet {
        base /// Common attributes and elements (mimeType, codecs, frameRate, AudioChannelConfiguration, ...).
            common: RepresentationBase;
        attr xlink_href: Option<String> = "xlink:href";
        attr xlink_actuate: Option<String> = "xlink:actuate";
        attr xlink_type: Option<String> = "xlink:type";
        attr xlink_show: Option<String> = "xlink:show";
        attr id: Option<u32> = "id";
        attr group: Option<u32> = "group";
        attr lang: Option<String> = "lang";
        attr content_type: Option<String> = "contentType";
        attr par: Option<Ratio> = "par";
        attr min_bandwidth: Option<u32> = "minBandwidth";
        attr max_bandwidth: Option<u32> = "maxBandwidth";
        attr min_width: Option<u32> = "minWidth";
        attr max_width: Option<u32> = "maxWidth";
        attr min_height: Option<u32> = "minHeight";
        attr max_height: Option<u32> = "maxHeight";
        attr min_frame_rate: Option<FrameRate> = "minFrameRate";
        attr max_frame_rate: Option<FrameRate> = "maxFrameRate";
        attr segment_alignment: Option<bool> = "segmentAlignment";
        attr subsegment_alignment: Option<bool> = "subsegmentAlignment";
        attr subsegment_starts_with_sap: Option<u32> = "subsegmentStartsWithSAP";
        attr bitstream_switching: Option<bool> = "bitstreamSwitching";
        attr initialization_set_ref: Option<Vec<u32>> = "initializationSetRef";
        attr initialization_principal: Option<String> = "initializationPrincipal";
        child accessibilities: Vec<Descriptor> = "Accessibility";
        child roles: Vec<Descriptor> = "Role";
        child ratings: Vec<Descriptor> = "Rating";
        child viewpoints: Vec<Descriptor> = "Viewpoint";
        child content_components: Vec<ContentComponent> = "ContentComponent";
        child base_urls: Vec<BaseUrl> = "BaseURL";
        child segment_base: Option<SegmentBase> = "SegmentBase";
        child segment_list: Option<SegmentList> = "SegmentList";
        child segment_template: Option<SegmentTemplate> = "SegmentTemplate";
        child representations: Vec<Representation> = "Representation";
    }
}

dash_element! {
    /// `<ContentComponent>`: one component of multiplexed content.
    element ContentComponent {
        attr id: Option<u32> = "id";
        attr lang: Option<String> = "lang";
        attr content_type: Option<String> = "contentType";
        attr par: Option<Ratio> = "par";
        attr tag: Option<String> = "tag";
        child accessibilities: Vec<Descriptor> = "Accessibility";
        child roles: Vec<Descriptor> = "Role";
        child ratings: Vec<Descriptor> = "Rating";
        child viewpoints: Vec<Descriptor> = "Viewpoint";
    }
}

dash_element! {
    /// `<Representation>`: one encoded version (bitrate / resolution) of the content.
    element Representation {
        base /// Common attributes and elements (mimeType, codecs, width, height, ...).
            common: RepresentationBase;
        attr /// Required; no whitespace.
            id: String = "id";
        attr /// Required, bits per second.
            bandwidth: u32 = "bandwidth";
        attr quality_ranking: Option<u32> = "qualityRanking";
        attr dependency_id: Option<String> = "dependencyId";
        attr association_id: Option<String> = "associationId";
        attr association_type: Option<String> = "associationType";
        attr media_stream_structure_id: Option<String> = "mediaStreamStructureId";
        child base_urls: Vec<BaseUrl> = "BaseURL";
        child extended_bandwidths: Vec<ExtendedBandwidth> = "ExtendedBandwidth";
        child sub_representations: Vec<SubRepresentation> = "SubRepresentation";
        child segment_base: Option<SegmentBase> = "SegmentBase";
        child segment_list: Option<SegmentList> = "SegmentList";
        child segment_template: Option<SegmentTemplate> = "SegmentTemplate";
    }
}

dash_element! {
    /// `<SubRepresentation>`.
    element SubRepresentation {
        base /// Common attributes and elements.
            common: RepresentationBase;
        attr level: Option<u32> = "level";
        attr dependency_level: Option<Vec<u32>> = "dependencyLevel";
        attr bandwidth: Option<u32> = "bandwidth";
        attr content_component: Option<String> = "contentComponent";
    }
}

dash_element! {
    /// `<ExtendedBandwidth>`.
    element ExtendedBandwidth {
        attr vbr: Option<bool> = "vbr";
        child model_pairs: Vec<ModelPair> = "ModelPair";
    }
}

dash_element! {
    /// `<ModelPair>` of an extended bandwidth model.
    element ModelPair {
        attr buffer_time: IsoDuration = "bufferTime";
        attr bandwidth: u32 = "bandwidth";
    }
}

dash_element! {
    /// `<Preselection>`.
    element Preselection {
        base /// Common attributes and elements.
            common: RepresentationBase;
        attr id: Option<String> = "id";
        attr /// Required.
            preselection_components: String = "preselectionComponents";
        attr lang: Option<String> = "lang";
        attr order: Option<String> = "order";
        child accessibilities: Vec<Descriptor> = "Accessibility";
        child roles: Vec<Descriptor> = "Role";
        child ratings: Vec<Descriptor> = "Rating";
        child viewpoints: Vec<Descriptor> = "Viewpoint";
    }
}

dash_element! {
    /// `<Subset>`.
    element Subset {
        attr contains: Vec<u32> = "contains";
        attr id: Option<String> = "id";
    }
}

dash_element! {
    /// `<Switching>`.
    element Switching {
        attr interval: u32 = "interval";
        attr switching_type: Option<String> = "type";
    }
}

dash_element! {
    /// `<RandomAccess>`.
    element RandomAccess {
        attr interval: u32 = "interval";
        attr random_access_type: Option<String> = "type";
        attr min_buffer_time: Option<IsoDuration> = "minBufferTime";
        attr bandwidth: Option<u32> = "bandwidth";
    }
}

dash_element! {
    /// `<ProducerReferenceTime>`.
    element ProducerReferenceTime {
        attr id: u32 = "id";
        attr inband: Option<bool> = "inband";
        attr prt_type: Option<String> = "type";
        attr application_scheme: Option<String> = "applicationScheme";
        attr wall_clock_time: String = "wallClockTime";
        attr presentation_time: u64 = "presentationTime";
        child utc_timing: Option<Descriptor> = "UTCTiming";
    }
}

dash_element! {
    /// `<ContentPopularityRate>`.
    element ContentPopularityRate {
        attr source: String = "source";
        attr source_description: Option<String> = "source_description";
        child prs: Vec<PopularityRate> = "PR";
    }
}

dash_element! {
    /// `<PR>` of a content popularity rate.
    element PopularityRate {
        attr popularity_rate: Option<u32> = "popularityRate";
        attr start: Option<u64> = "start";
        attr r: Option<i64> = "r";
    }
}

dash_element! {
    /// `<Resync>`.
    element Resync {
        attr resync_type: Option<u32> = "type";
        attr d_t: Option<u32> = "dT";
        attr d_i_max: Option<f64> = "dImax";
        attr d_i_min: Option<f64> = "dImin";
        attr marker: Option<bool> = "marker";
    }
}

dash_element! {
    /// `URLType`: `<Initialization>`, `<RepresentationIndex>`, `<BitstreamSwitching>`.
    element Url {
        attr source_url: Option<String> = "sourceURL";
        attr /// Byte range `first-last`.
            range: Option<String> = "range";
    }
}

dash_element! {
    /// `<FailoverContent>`.
    element FailoverContent {
        attr valid: Option<bool> = "valid";
        child fcs: Vec<Fcs> = "FCS";
    }
}

dash_element! {
    /// `<FCS>` of failover content.
    element Fcs {
        attr t: u64 = "t";
        attr d: Option<u64> = "d";
    }
}

dash_element! {
    /// `<SegmentBase>`: single-segment addressing (e.g. on-demand with `sidx`).
    element SegmentBase {
        attr timescale: Option<u32> = "timescale";
        attr ept_delta: Option<i64> = "eptDelta";
        attr pd_delta: Option<i64> = "pdDelta";
        attr presentation_time_offset: Option<u64> = "presentationTimeOffset";
        attr presentation_duration: Option<u64> = "presentationDuration";
        attr time_shift_buffer_depth: Option<IsoDuration> = "timeShiftBufferDepth";
        attr index_range: Option<String> = "indexRange";
        attr index_range_exact: Option<bool> = "indexRangeExact";
        attr availability_time_offset: Option<f64> = "availabilityTimeOffset";
        attr availability_time_complete: Option<bool> = "availabilityTimeComplete";
        child initialization: Option<Url> = "Initialization";
        child representation_index: Option<Url> = "RepresentationIndex";
        child failover_content: Option<FailoverContent> = "FailoverContent";
    }
}

dash_element! {
    /// `<SegmentTemplate>`: segment URLs from a template, with `@duration` or a
    /// [`SegmentTimeline`].
    element SegmentTemplate {
        attr /// Units per second of `duration`, `S@t`, `S@d` (absent means 1).
            timescale: Option<u32> = "timescale";
        attr ept_delta: Option<i64> = "eptDelta";
        attr pd_delta: Option<i64> = "pdDelta";
        attr presentation_time_offset: Option<u64> = "presentationTimeOffset";
        attr presentation_duration: Option<u64> = "presentationDuration";
        attr time_shift_buffer_depth: Option<IsoDuration> = "timeShiftBufferDepth";
        attr index_range: Option<String> = "indexRange";
        attr index_range_exact: Option<bool> = "indexRangeExact";
        attr availability_time_offset: Option<f64> = "availabilityTimeOffset";
        attr availability_time_complete: Option<bool> = "availabilityTimeComplete";
        attr /// Constant segment duration in timescale units.
            duration: Option<u32> = "duration";
        attr /// Number of the first segment (absent means 1).
            start_number: Option<u32> = "startNumber";
        attr end_number: Option<u32> = "endNumber";
        attr /// Media segment URL template.
            media: Option<String> = "media";
        attr index: Option<String> = "index";
        attr /// Init segment URL template.
            initialization: Option<String> = "initialization";
        attr bitstream_switching: Option<String> = "bitstreamSwitching";
        child initialization_element: Option<Url> = "Initialization";
        child representation_index: Option<Url> = "RepresentationIndex";
        child failover_content: Option<FailoverContent> = "FailoverContent";
        child segment_timeline: Option<SegmentTimeline> = "SegmentTimeline";
        child bitstream_switching_element: Option<Url> = "BitstreamSwitching";
    }
}

dash_element! {
    /// `<SegmentList>`: explicit segment URLs.
    element SegmentList {
        attr xlink_href: Option<String> = "xlink:href";
        attr xlink_actuate: Option<String> = "xlink:actuate";
        attr xlink_type: Option<String> = "xlink:type";
        attr xlink_show: Option<String> = "xlink:show";
        attr timescale: Option<u32> = "timescale";
        attr ept_delta: Option<i64> = "eptDelta";
        attr pd_delta: Option<i64> = "pdDelta";
        attr presentation_time_offset: Option<u64> = "presentationTimeOffset";
        attr presentation_duration: Option<u64> = "presentationDuration";
        attr time_shift_buffer_depth: Option<IsoDuration> = "timeShiftBufferDepth";
        attr index_range: Option<String> = "indexRange";
        attr index_range_exact: Option<bool> = "indexRangeExact";
        attr availability_time_offset: Option<f64> = "availabilityTimeOffset";
        attr availability_time_complete: Option<bool> = "availabilityTimeComplete";
        attr duration: Option<u32> = "duration";
        attr start_number: Option<u32> = "startNumber";
        attr end_number: Option<u32> = "endNumber";
        child initialization: Option<Url> = "Initialization";
        child representation_index: Option<Url> = "RepresentationIndex";
        child failover_content: Option<FailoverContent> = "FailoverContent";
        child segment_timeline: Option<SegmentTimeline> = "SegmentTimeline";
        child bitstream_switching: Option<Url> = "BitstreamSwitching";
        child segment_urls: Vec<SegmentUrl> = "SegmentURL";
    }
}

dash_element! {
    /// `<SegmentURL>` of a segment list.
    element SegmentUrl {
        attr media: Option<String> = "media";
        attr media_range: Option<String> = "mediaRange";
        attr index: Option<String> = "index";
        attr index_range: Option<String> = "indexRange";
    }
}

dash_element! {
    /// `<SegmentTimeline>`: explicit segment times and durations.
    element SegmentTimeline {
        child entries: Vec<S> = "S";
    }
}

dash_element! {
    /// `<S>`: a run of `1 + r` segments of duration `d` starting at `t`.
    element S {
        attr /// Start time in timescale units (absent: continues the previous run).
            t: Option<u64> = "t";
        attr /// Segment number of the first segment of the run.
            n: Option<u64> = "n";
        attr /// Duration in timescale units (required).
            d: u64 = "d";
        attr /// Repeat count (extra segments); -1 repeats until the next `S` or the period end.
            r: Option<i64> = "r";
        attr k: Option<u64> = "k";
    }
}

impl S {
    /// A run of `1 + repeat` segments of duration `d`, optionally with a start time.
    pub fn new(t: Option<u64>, d: u64, repeat: i64) -> Self {
        S {
            t,
            d,
            r: (repeat != 0).then_some(repeat),
            ..Default::default()
        }
    }
}

dash_element! {
    /// `<Metrics>`: DASH metrics reporting.
    element Metrics {
        attr metrics: String = "metrics";
        child ranges: Vec<MetricsRange> = "Range";
        child reportings: Vec<Descriptor> = "Reporting";
    }
}

dash_element! {
    /// `<Range>` of a metrics element.
    element MetricsRange {
        attr starttime: Option<IsoDuration> = "starttime";
        attr duration: Option<IsoDuration> = "duration";
    }
}

dash_element! {
    /// `<LeapSecondInformation>`.
    element LeapSecondInformation {
        attr availability_start_leap_offset: i64 = "availabilityStartLeapOffset";
        attr next_availability_start_leap_offset: Option<i64> = "nextAvailabilityStartLeapOffset";
        attr next_leap_change_time: Option<DateTime> = "nextLeapChangeTime";
    }
}

// ---------------------------------------------------------------------------------------

/// Namespace declarations this crate adds itself (so they are not kept from the input).
/// That is the default namespace, any prefix bound to the DASH namespace (output uses the
/// default namespace), and the canonical `xlink` / `cenc` / `xsi` prefixes.
fn is_managed_declaration(name: &str, value: &str) -> bool {
    name == "xmlns"
        || name.strip_prefix("xmlns:").is_some_and(|p| {
            value.eq_ignore_ascii_case(xml::DASH_NS) || xml::KNOWN_PREFIXES.contains(&(p, value))
        })
}

impl Mpd {
    /// A static (on-demand) MPD with the product's profile
    /// ([`PROFILE_ISOFF_LIVE`]), a duration and a minimum buffer time; add Periods to
    /// [`periods`](Self::periods).
    pub fn new_static(
        media_presentation_duration: IsoDuration,
        min_buffer_time: IsoDuration,
    ) -> Self {
        Mpd {
            profiles: PROFILE_ISOFF_LIVE.to_string(),
            mpd_type: Some(PresentationType::Static),
            media_presentation_duration: Some(media_presentation_duration),
            min_buffer_time,
            ..Default::default()
        }
    }

    /// Parses an MPD document. Unknown elements and attributes are kept in `extra`;
    /// errors name the line and element path.
    pub fn parse(input: &str) -> Result<Mpd, ManifestError> {
        let root = xml::parse_document(input)?;
        if root.local() != "MPD" || !root.is_dash() {
            return Err(ManifestError::NotAnMpd(root.qname().to_string()));
        }
        let mut c = Cursor::new(&root, "MPD".to_string());
        // The default namespace and the prefixes this crate manages are re-declared on output.
        c.skip_attrs(is_managed_declaration);
        let mut mpd = Mpd::read_part(&mut c)?;
        mpd.extra = c.take_extensions();
        Ok(mpd)
    }

    /// Writes the MPD as pretty-printed XML with an XML declaration, the DASH default
    /// namespace, and `xmlns:xlink` / `xmlns:cenc` / `xmlns:xsi` when those prefixes are used.
    pub fn to_xml(&self) -> Result<String, ManifestError> {
        let mut el = self.to_xml_element("MPD");
        let mut used = Vec::new();
        collect_prefixes(&el, &mut used);
        let mut attrs = vec![("xmlns".to_string(), xml::DASH_NS.to_string())];
        for (prefix, uri) in xml::KNOWN_PREFIXES {
            let decl = format!("xmlns:{prefix}");
            if used.iter().any(|p| p == prefix) && !el.attrs.iter().any(|(k, _)| *k == decl) {
                attrs.push((decl, uri.to_string()));
            }
        }
        // Declarations first, then the rest, for readability.
        let (decls, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut el.attrs)
            .into_iter()
            .partition(|(k, _)| k.starts_with("xmlns:"));
        attrs.extend(decls);
        attrs.extend(rest);
        el.attrs = attrs;
        xml::write_document(&el)
    }

    /// `MPD@type`, defaulting to static.
    pub fn presentation_type(&self) -> PresentationType {
        self.mpd_type.unwrap_or_default()
    }

    /// Start of period `index` (`Period@start`, else the end of the previous period, else 0
    /// for the first period of a static MPD). `None` if it cannot be derived.
    /// Iterative (an MPD of a hundred thousand periods must not recurse that deep), and `None`
    /// if the sum overflows.
    pub fn period_start(&self, index: usize) -> Option<IsoDuration> {
        self.periods.get(index)?;
        // Back to the nearest period with a known start, then forward adding durations.
        let mut k = index;
        let mut start = loop {
            if let Some(s) = self.periods[k].start {
                break s;
            }
            if k == 0 {
                if self.presentation_type() != PresentationType::Static {
                    return None;
                }
                break IsoDuration::ZERO;
            }
            k -= 1;
        };
        for p in &self.periods[k..index] {
            start = IsoDuration::from_nanos(start.nanos().checked_add(p.duration?.nanos())?);
        }
        Some(start)
    }

    /// Duration of period `index`: `Period@duration`, else up to the next period's start,
    /// else (last period) up to `mediaPresentationDuration`. `None` if unknown (live).
    pub fn period_duration(&self, index: usize) -> Option<IsoDuration> {
        let p = self.periods.get(index)?;
        if let Some(d) = p.duration {
            return Some(d);
        }
        let start = self.period_start(index)?;
        let end = if index + 1 < self.periods.len() {
            self.period_start(index + 1)?
        } else {
            self.media_presentation_duration?
        };
        Some(IsoDuration::from_nanos(
            end.nanos().saturating_sub(start.nanos()),
        ))
    }
}

fn collect_prefixes(el: &XmlElement, out: &mut Vec<String>) {
    let names = std::iter::once(el.name.as_str()).chain(el.attrs.iter().map(|(k, _)| k.as_str()));
    for name in names {
        if let Some((p, _)) = name.split_once(':') {
            if p != "xmlns" && p != "xml" && !out.iter().any(|o| o == p) {
                out.push(p.to_string());
            }
        }
    }
    for c in &el.children {
        if let XmlNode::Element(e) = c {
            collect_prefixes(e, out);
        }
    }
}

impl AdaptationSet {
    /// An AdaptationSet for one media kind as this product writes it: `contentType`,
    /// `mimeType`, `segmentAlignment="true"`, `startWithSAP="1"`.
    pub fn for_kind(kind: crate::layout::MediaKind) -> Self {
        let mut set = AdaptationSet {
            content_type: Some(kind.content_type().to_string()),
            segment_alignment: Some(true),
            ..Default::default()
        };
        set.common.mime_type = Some(kind.mime_type().to_string());
        set.common.start_with_sap = Some(1);
        set
    }

    /// The Representation with this `@id`.
    pub fn representation(&self, id: &str) -> Option<&Representation> {
        self.representations.iter().find(|r| r.id == id)
    }

    /// `@contentType`, or the type part of `@mimeType` (`video/mp4` → `video`), or the
    /// Representations' mimeType.
    pub fn effective_content_type(&self) -> Option<&str> {
        self.content_type
            .as_deref()
            .or_else(|| self.common.mime_type.as_deref()?.split('/').next())
            .or_else(|| {
                self.representations
                    .iter()
                    .find_map(|r| r.common.mime_type.as_deref()?.split('/').next())
            })
    }
}

impl Representation {
    /// A Representation with its required `@id` and `@bandwidth`.
    pub fn new(id: impl Into<String>, bandwidth: u32) -> Self {
        Representation {
            id: id.into(),
            bandwidth,
            ..Default::default()
        }
    }
}

impl Period {
    /// The AdaptationSets whose content type is `content_type` (`video`, `audio`, `text`).
    pub fn adaptation_sets_of<'a>(
        &'a self,
        content_type: &'a str,
    ) -> impl Iterator<Item = &'a AdaptationSet> + 'a {
        self.adaptation_sets
            .iter()
            .filter(move |a| a.effective_content_type() == Some(content_type))
    }
}
