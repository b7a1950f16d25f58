// GENERATED FILE: do not edit. Change the .avsc files and run `eddy schemas codegen`.
// Types of schemas/*.avsc.
// Sources: schemas/Airport.avsc, schemas/AirportHourDelay.avsc, schemas/DelayStats.avsc, schemas/EnrichedFlight.avsc, schemas/Flight.avsc

/** An airport (vega-datasets airports.csv). */
export interface Airport {
  iata: string;
  name: string;
  /** Default: null. */
  city: string | null;
  /** Default: null. */
  state: string | null;
  /** Default: null. */
  country: string | null;
  latitude: number;
  longitude: number;
}

/** Final delay statistics of one origin airport in one 1-hour event-time window. */
export interface AirportHourDelay {
  airport: string;
  /** timestamp-millis: ms since the epoch. */
  window_start: number;
  /** timestamp-millis: ms since the epoch. */
  window_end: number;
  flights: number;
  delayed: number;
  total_delay: number;
  max_delay: number;
  avg_delay: number;
}

/** Delay aggregate of a group of flights (an airport-hour window, or a route). Delays in minutes. */
export interface DelayStats {
  flights: number;
  /** Flights with delay > 15 minutes. */
  delayed: number;
  total_delay: number;
  max_delay: number;
  avg_delay: number;
}

/** A valid flight joined with its origin and destination airports. */
export interface EnrichedFlight {
  /** timestamp-millis: ms since the epoch. */
  date: number;
  delay: number;
  distance: number;
  origin: string;
  destination: string;
  /** Default: null. */
  origin_city: string | null;
  /** Default: null. */
  origin_state: string | null;
  /** Default: null. */
  dest_city: string | null;
  /** Default: null. */
  dest_state: string | null;
}

/** One US domestic flight (vega-datasets flights-3m, Jan-Jun 2001). */
export interface Flight {
  /** timestamp-millis: ms since the epoch. Scheduled departure, ms since epoch (local time read as UTC). */
  date: number;
  /** Arrival delay in minutes (negative: early). */
  delay: number;
  /** Miles. */
  distance: number;
  /** IATA code of the origin airport. */
  origin: string;
  /** IATA code of the destination airport. */
  destination: string;
}
